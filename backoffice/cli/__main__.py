"""``python -m backoffice.cli``: the ``backoffice`` command."""

from backoffice.cli import main

main()
