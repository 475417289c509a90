"""The words for the code names the records keep (a movement's kind, a status, a run's mode, a role): the one place
a page, a message, a download in another language or a command says them in the reader's language (:func:`word`,
the template filter ``word``, or :func:`words`). The records, the API and English downloads keep the codes.
"""

from __future__ import annotations

from functools import lru_cache

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

WORDS = {
    # A wallet movement's kind.
    "recharge": _l("recharge"),
    "charge": _l("charge"),
    "adjustment": _l("adjustment"),
    "reversal": _l("reversal"),
    # A customer's tax status.
    "taxed": _l("taxed"),
    "exempt": _l("exempt from VAT"),
    "zero_rated": _l("zero-rated"),
    # What an invoice's line bills.
    "gas": _l("gas"),
    "meter_rental": _l("meter rental"),
    "connection_fee": _l("connection fee"),
    # A customer's, a meter's, a manager's state.
    "active": _l("active"),
    "suspended": _l("suspended"),
    "closed": _l("closed"),
    "retired": _l("retired"),
    # A journal entry's status.
    "draft": _l("draft"),
    "posted": _l("posted"),
    "void": _l("void"),
    "reversed": _l("reversed"),
    "reversing": _l("reversing"),
    # An invoice's or a payment's status.
    "open": _l("open"),
    "partly_paid": _l("partly paid"),
    "overdue": _l("overdue"),
    "paid": _l("paid"),
    "withdrawn": _l("withdrawn"),
    "received": _l("received"),
    # An approval request's status; a review's decision.
    "pending": _l("pending"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
    "accepted": _l("accepted"),
    # A job's and a reconciliation run's status and mode.
    "queued": _l("queued"),
    "started": _l("started"),
    "finished": _l("finished"),
    "failed": _l("failed"),
    "abandoned": _l("abandoned"),
    "running": _l("running"),
    "succeeded": _l("succeeded"),
    "verify": _l("verify"),
    "fix": _l("fix"),
    "rebuild": _l("rebuild"),
    "dry-run": _l("dry run"),
    # An import's status (queued, running and failed as a job's).
    "checked": _l("checked"),
    "waiting": _l("waiting for approval"),
    "done": _l("done"),
    # An account's type.
    "asset": _l("asset"),
    "liability": _l("liability"),
    "equity": _l("equity"),
    "revenue": _l("revenue"),
    "expense": _l("expense"),
    # What an automatic journal entry records.
    "balance_transaction": _l("balance transaction"),
    "invoice": _l("invoice"),
    "payment": _l("payment"),
    "manual": _l("manual"),
    # A statement's first and last rows; a yes or a no (whether a discrepancy was fixed).
    "opening": _l("opening"),
    "closing": _l("closing"),
    "yes": _l("yes"),
    "no": _l("no"),
    # What a history version did to its record.
    "created": _l("created"),
    "edited": _l("edited"),
    "deleted": _l("deleted"),
    # A recalculation's reason.
    "pricing_change": _l("pricing change"),
    "deferred": _l("deferred"),
    # A user's role.
    "admin": _l("admin"),
    "finance": _l("finance"),
}


def word(value) -> str:
    """A code name (or an enum member) as the page's language says it; an unknown one as it is."""
    code = getattr(value, "value", value)
    found = WORDS.get(code)
    return str(found) if found is not None else str(code)


@lru_cache(maxsize=8)
def words(language: str) -> dict[str, str]:
    """Every word in ``language``, read once from its catalogue: a list says a word on each row."""
    with force_locale(language):
        return {code: str(text) for code, text in WORDS.items()}
