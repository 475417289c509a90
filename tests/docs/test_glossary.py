"""The catalogues against the finance glossary (docs/glossary.md): every msgstr that translates a glossary term says
the glossary's word for it, and a word the glossary reserves for one meaning says nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from tests.checkout import ROOT

GLOSSARY = ROOT / "docs" / "glossary.md"
TRANSLATIONS = ROOT / "backoffice" / "translations"
LANGUAGES = {"id": "Bahasa Indonesia", "vi": "Tiếng Việt"}

# What a msgid holds that is not English words: placeholders, HTML tags, code names (customers.balance,
# total_spent), a command's options (--from-month).
NOT_WORDS = re.compile(r"%\(\w+\)[sd]|<[^>]*>|(?<![\w-])--[\w-]+|\w+(?:[._]\w+)+")


@dataclass(frozen=True)
class Term:
    """A row of the glossary's terms tables: the English forms, each language's accepted words, and the English
    phrases (or, quoted, whole msgids) in which the term means something else."""

    english: tuple[str, ...]
    words: dict[str, tuple[str, ...]]
    not_in: tuple[str, ...]
    not_msgids: frozenset[str]

    @property
    def name(self) -> str:
        return self.english[0]

    def occurs_in(self, msgid: str) -> bool:
        """Whether one of the English forms occurs in ``msgid`` outside the phrases where it means something else."""
        if msgid in self.not_msgids:
            return False
        text = english_words(msgid)
        elsewhere = [match.span() for phrase in self.not_in for match in phrase_pattern(phrase).finditer(text)]
        return any(
            not any(start <= match.start() and match.end() <= end for start, end in elsewhere)
            for form in self.english
            for match in phrase_pattern(form).finditer(text)
        )

    def says(self, language: str, msgstr: str) -> bool:
        folded = msgstr.casefold()
        return any(word.casefold() in folded for word in self.words[language])


@dataclass(frozen=True)
class Reserved:
    """A row of the reserved words table: a word of one language, and the English phrases it may translate."""

    language: str
    word: str
    only_for: tuple[str, ...]

    def misused_in(self, msgid: str, msgstr: str) -> bool:
        if not word_pattern(self.word).search(msgstr):
            return False
        text = english_words(msgid)
        return not any(phrase_pattern(phrase).search(text) for phrase in self.only_for)


def english_words(msgid: str) -> str:
    """The English words of a msgid. A column name on its own is a download's header, its underscores read as spaces
    (days_overdue is "days overdue"); a code name inside a sentence is not a word."""
    if re.fullmatch(r"\w+", msgid):
        return msgid.replace("_", " ")
    return NOT_WORDS.sub(" ", msgid)


@cache
def phrase_pattern(phrase: str) -> re.Pattern:
    """An English phrase on word boundaries, case-insensitive, its last word also in its simple plural."""
    *head, last = phrase.split()
    plural = rf"{re.escape(last[:-1])}(?:y|ies)" if last.endswith("y") else rf"{re.escape(last)}(?:s|es)?"
    return re.compile(r"(?<!\w)" + r"[\s-]+".join([*map(re.escape, head), plural]) + r"(?!\w)", re.IGNORECASE)


@cache
def word_pattern(word: str) -> re.Pattern:
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, word.split())) + r"(?!\w)", re.IGNORECASE)


def parse(text: str) -> tuple[list[Term], list[Reserved]]:
    """The glossary's terms and reserved words, read from its Markdown tables by their header rows."""
    terms, reserved, header = [], [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set("".join(cells)) <= set("-: "):
            row = dict(zip(header, cells, strict=True))
            if "English" in row:
                terms.append(_term(row))
            elif "Word" in row:
                reserved.append(_reserved(row))
    return terms, reserved


def _term(row: dict[str, str]) -> Term:
    phrases = [phrase.strip() for phrase in row["Not this term in"].split(";") if phrase.strip()]
    return Term(
        english=_alternatives(row["English"]),
        words={language: _alternatives(row[column]) for language, column in LANGUAGES.items()},
        not_in=tuple(phrase for phrase in phrases if not phrase.startswith('"')),
        not_msgids=frozenset(phrase.strip('"') for phrase in phrases if phrase.startswith('"')),
    )


def _reserved(row: dict[str, str]) -> Reserved:
    allowed = row["Only where the English says"]
    return Reserved(
        language=row["Language"],
        word=row["Word"],
        only_for=() if allowed == "—" else tuple(phrase.strip() for phrase in allowed.split(";")),
    )


def _alternatives(cell: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in cell.split(" / ") if word.strip())


@cache
def glossary() -> tuple[list[Term], list[Reserved]]:
    return parse(GLOSSARY.read_text(encoding="utf-8"))


@cache
def translated(language: str) -> tuple[tuple[str, str], ...]:
    """Each message of ``language``'s catalogue as (msgid, msgstr), a plural's forms joined by new lines."""
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return _pairs(read_po(po, locale=language))


def _pairs(catalogue: Catalog) -> tuple[tuple[str, str], ...]:
    def joined(text) -> str:
        return "\n".join(text) if isinstance(text, tuple | list) else text

    return tuple((joined(message.id), joined(message.string)) for message in catalogue if message.id)


def unlike_the_glossary(term: Term, language: str, messages) -> list[str]:
    """What each msgid that names ``term`` says in ``language`` when it does not use the glossary's word."""
    return [
        f"{msgid!r} says {msgstr!r}"
        for msgid, msgstr in messages
        if msgstr and term.occurs_in(msgid) and not term.says(language, msgstr)
    ]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("term", glossary()[0], ids=lambda term: term.name)
def test_every_translation_of_a_glossary_term_uses_the_glossarys_word(term, language):
    wrong = unlike_the_glossary(term, language, translated(language))
    words = " or ".join(repr(word) for word in term.words[language])
    assert not wrong, f"{language}: {term.name!r} is {words} (docs/glossary.md); instead:\n" + "\n".join(wrong)


@pytest.mark.parametrize("reserved", glossary()[1], ids=lambda reserved: f"{reserved.language}-{reserved.word}")
def test_a_reserved_word_translates_only_what_it_means(reserved):
    wrong = [
        f"{msgid!r} says {msgstr!r}"
        for msgid, msgstr in translated(reserved.language)
        if reserved.misused_in(msgid, msgstr)
    ]
    allowed = "; ".join(reserved.only_for) or "nothing"
    assert not wrong, (
        f"{reserved.language}: {reserved.word!r} translates only {allowed} (docs/glossary.md); instead:\n"
        + "\n".join(wrong)
    )


def test_the_glossary_gives_every_term_a_word_in_both_languages_and_reserves_them():
    terms, reserved = glossary()
    assert len(terms) >= 60 and len(reserved) >= 5
    assert [term.name for term in terms if not all(term.words.values())] == []
    assert {entry.language for entry in reserved} <= set(LANGUAGES)


GLOSSARY_EXAMPLE = """
| English | Bahasa Indonesia | Tiếng Việt | Meaning | Not this term in |
|---|---|---|---|---|
| balance | saldo | số dư | What an account holds. | balance sheet |
| due date / due | jatuh tempo | hạn thanh toán / đến hạn | The day to pay by. | amount due; "Due here" |

| Language | Word | Only where the English says | Why |
|---|---|---|---|
| id | keluar | log out; money out | The log-out word. |
| vi | đặt cọc | — | Not a deposit. |
"""


def test_a_term_is_found_as_a_whole_word_or_plural_not_where_it_means_something_else():
    (balance, due), _ = parse(GLOSSARY_EXAMPLE)
    assert balance.occurs_in("Monthly balances") and balance.occurs_in("Balance sheet and balance")
    assert not balance.occurs_in("Balance sheet") and not balance.occurs_in("Not balanced by %(difference)s")
    assert not balance.occurs_in('<strong id="balances-total">%(balance)s</strong>, customers.balance')
    assert balance.occurs_in("balance_after") and not balance.occurs_in("balance_after = balance_before + amount")
    assert due.occurs_in("Invoice %(number)s, due %(due)s") and not due.occurs_in("Amount due")
    assert not due.occurs_in("Due here") and due.occurs_in("Due here or there")


def test_a_translation_without_the_glossarys_word_is_named_with_what_it_says_instead():
    (balance, due), _ = parse(GLOSSARY_EXAMPLE)
    catalogue = Catalog(locale="id")
    catalogue.add("Due", "Terutang")
    catalogue.add("Invoice %(number)s, due %(due)s", "Faktur %(number)s, jatuh tempo %(due)s")
    catalogue.add(("%(num)d balance", "%(num)d balances"), ("%(num)d saldo", "%(num)d saldo"))
    messages = _pairs(catalogue)
    assert unlike_the_glossary(due, "id", messages) == ["'Due' says 'Terutang'"]
    assert unlike_the_glossary(balance, "id", messages) == []
    assert due.says("vi", "Đến hạn ngày %(due)s") and not due.says("vi", "Còn nợ")


def test_a_reserved_word_is_refused_where_the_english_means_something_else():
    _, (keluar, deposit) = parse(GLOSSARY_EXAMPLE)
    assert keluar.misused_in("Left on", "Keluar pada")
    assert not keluar.misused_in("Log out", "Keluar") and not keluar.misused_in("Money out", "Uang keluar")
    assert not keluar.misused_in("Changing the role logs the user out", "mengeluarkan pengguna")
    assert deposit.misused_in("Customer deposits", "Tiền đặt cọc của khách hàng") and deposit.only_for == ()
