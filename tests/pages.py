"""What the tests read of a page the test client answered: its text, as a reader's eye runs over it."""

from __future__ import annotations

import html
import re


def text(response) -> str:
    """The page's HTML, its runs of white space one space each."""
    return " ".join(response.get_data(as_text=True).split())


def unescaped(response) -> str:
    """:func:`text`, its character references read (``&amp;`` is ``&``)."""
    return html.unescape(text(response))


def shown(response) -> str:
    """The page's words without its tags, its runs of white space one space each."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())
