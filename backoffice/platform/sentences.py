"""Sentences the system writes itself and keeps in English (a discrepancy's reason, a job's error): each defined once,
beside where it is written, as a format with named fields; said to a reader in the reader's language from the facts
read back out of the kept text.

The kept text stays what it was (runs and jobs are evidence, their CSV and logs English): a page finds the facts by
matching the text against the same format, and says them with the words of the reader's language. A text no format
matches (an older wording, a text cut at its column's length) is shown as kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property

from babel.dates import format_datetime
from flask import current_app
from flask_babel.speaklater import LazyString

from backoffice.platform.i18n import named_month, spoken_locale
from backoffice.platform.money import MoneyError, format_money, parse_amount, shown


@dataclass(frozen=True)
class Sentence:
    """A sentence written in English from named facts (``{code}``), and the same sentence in words a catalogue
    translates (``%(code)s``). The facts named in ``amounts`` are amounts, written as the installation writes money
    and said as the reader writes it; those named in ``months`` are months and those in ``moments`` moments in UTC,
    written ``YYYY-MM`` and ``YYYY-MM-DD HH:MM:SS`` and said as the reader's language names them; those in
    ``said_by`` are said by their function (a check by its name, a sentence within the sentence)."""

    code: str
    english: str
    words: LazyString
    amounts: tuple[str, ...] = field(default=())
    months: tuple[str, ...] = field(default=())
    moments: tuple[str, ...] = field(default=())
    said_by: Mapping[str, Callable[[str], str]] = field(default_factory=dict, hash=False)

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
        return str(self.words) % {name: self._fact_said(name, value) for name, value in facts.items()}

    def _fact_said(self, name: str, kept: str) -> str:
        """A fact as the reader says it; as kept when it cannot be read back."""
        if name in self.amounts:
            return _said(kept)
        if name in self.said_by:
            return self.said_by[name](kept)
        try:
            if name in self.months:
                return named_month(datetime.strptime(kept, "%Y-%m"))
            if name in self.moments:
                moment = datetime.strptime(kept, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                return format_datetime(moment, "medium", tzinfo=UTC, locale=spoken_locale())
        except ValueError:
            pass
        return kept

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
