"""Where the checkout is, and the console script its installation made: what the tests run as a shell would."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: the folder that holds ``backoffice/``, ``tests/``, the Makefile."""

CONSOLE_SCRIPT = Path(sys.executable).with_name("backoffice")
"""The ``backoffice`` console script beside the Python that runs the tests."""
