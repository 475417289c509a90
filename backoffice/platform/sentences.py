"""Sentences the system writes itself and keeps in English (a discrepancy's reason, a job's error): each defined once,
beside where it is written, as a format with named fields; said to a reader in the reader's language from the facts
read back out of the kept text.

The kept text stays what it was (runs and jobs are evidence, their CSV and logs English): a page finds the facts by
matching the text against the same format, and says them with the words of the reader's language. A text no format
matches (an older wording, a text cut at its column's length) is shown as kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from flask import current_app
from flask_babel.speaklater import LazyString

from backoffice.platform.money import MoneyError, format_money, parse_amount, shown


@dataclass(frozen=True)
class Sentence:
    """A sentence written in English from named facts (``{code}``), and the same sentence in words a catalogue
    translates (``%(code)s``). The facts named in ``amounts`` are amounts, written as the installation writes money
    and said as the reader writes it."""

    code: str
    english: str
    words: LazyString
    amounts: tuple[str, ...] = field(default=())

    def write(self, **facts) -> str:
        """The sentence as it is kept: English, amounts in the installation's notation."""
        return self.english.format(
            **{name: _kept(value) if name in self.amounts else value for name, value in facts.items()}
        )

    def facts(self, text: str | None) -> dict[str, str] | None:
        """The facts of a kept text written by :meth:`write`; None when it is not this sentence."""
        found = self._pattern.fullmatch(text or "")
        return None if found is None else found.groupdict()

    def say(self, facts: dict[str, str]) -> str:
        """The sentence in the language spoken now, its amounts in the reader's notation."""
        return str(self.words) % {
            name: _said(value) if name in self.amounts else value for name, value in facts.items()
        }

    @cached_property
    def _pattern(self) -> re.Pattern:
        parts = re.split(r"\{(\w+)\}", self.english)
        pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
        return re.compile(pattern, re.DOTALL)


def said(text: str | None, sentences: Iterable[Sentence]) -> str:
    """A kept text in the reader's words when one of these sentences wrote it; else as it is kept."""
    for sentence in sentences:
        if (facts := sentence.facts(text)) is not None:
            return sentence.say(facts)
    return text or ""


def _kept(amount: Decimal) -> str:
    return format_money(amount, current_app.config["LOCALE"], current_app.config["CURRENCY"])


def _said(kept: str) -> str:
    """An amount kept in the installation's notation, in the reader's; as kept when it cannot be read back."""
    try:
        return shown(parse_amount(kept, current_app.config["LOCALE"], current_app.config["CURRENCY"]))
    except MoneyError:
        return kept
