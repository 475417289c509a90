"""The secrets an installation outside production makes for itself, once, in its instance folder: the session's
secret key, the seal key, the API token."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def made_once(instance: Path, name: str) -> str:
    """A random secret kept in the instance folder's file ``name``, readable by its owner only: made the first time
    it is asked for, read back ever after."""
    path = instance / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, with its mode, then linked in place: of two processes starting at once,
        # one's secret is kept and both read it.
        draft = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
