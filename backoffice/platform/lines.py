"""Text that is one line: what a number, a reference, a code, a name or an e-mail address may hold, whatever door it
came through. A control character (a line feed in an invoice's number breaks the e-mail that sends it) or a lone
surrogate (which no encoding writes, so no page, PDF, e-mail or workbook can) is refused, never stripped; the
database refuses control characters in those columns too (migration ``0072``)."""

from __future__ import annotations

import re

from flask_babel import gettext as _

NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (C0, DEL and C1, tab and line ends among them) and lone surrogates."""

UNWRITABLE = re.compile(r"[\x00\ud800-\udfff]")
"""What no text at all may hold, one line or many: a NUL character, a lone surrogate."""

DESCRIPTION_LENGTH = 300
"""What a description, a note or a reason holds, in characters: its column's width and its form field's limit."""


class NotOneLine(ValueError):
    """A text that should be one line holds a control character or a lone surrogate; nothing was written."""

    def __init__(self, what: str) -> None:
        super().__init__(_("%(what)s must be one line of text, without control characters or line breaks.", what=what))


def one_line(text: str, what: str) -> str:
    """``text`` as it is, if it is one line of text (see :data:`NOT_ONE_LINE`); else :class:`NotOneLine`, saying
    ``what`` it was."""
    if NOT_ONE_LINE.search(text):
        raise NotOneLine(what)
    return text


def writable(text: str) -> bool:
    """Whether ``text`` can be written anywhere: no NUL character, no lone surrogate."""
    return UNWRITABLE.search(text) is None


def described(text: str | None) -> str:
    """``text`` as a description, a note or a reason is kept: without the spaces around it, and cut to
    :data:`DESCRIPTION_LENGTH` (a form refuses it longer; what the application writes itself is cut)."""
    return (text or "").strip()[:DESCRIPTION_LENGTH]
