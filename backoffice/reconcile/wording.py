"""What a clerk reads for each check's field: the one place its words are kept, translated into the reader's
language (English on the command line). The code names stay the machine's: the CSV's ``field`` column, the API,
the commands."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.evidence import quarantine
from backoffice.platform import sentences
from backoffice.reconcile import journal_balanced, ledger_chain, reading_calculation, sources

FIELD_LABELS: dict[tuple[str, str], str] = {
    ("order_grand_total", "grand_total"): _l("Grand total"),
    ("target_achieved", "achieved_amount"): _l("Achieved amount"),
    ("order_month_totals", "order_count"): _l("Number of orders in the month"),
    ("order_month_totals", "grand_total"): _l("Grand total of the month's orders"),
    ("reading_calculation", "volume_flow_meter"): _l("Flow-meter volume (m³)"),
    ("reading_calculation", "meter_correction"): _l("Meter correction factor"),
    ("reading_calculation", "price_per_sm3"): _l("Price per Sm³"),
    ("reading_calculation", "volume_sm3"): _l("Volume (Sm³)"),
    ("reading_calculation", "total_price"): _l("Price of the reading"),
    ("reading_calculation", "charged"): _l("Charged to the wallet"),
    ("customer_wallet", "balance"): _l("Wallet balance"),
    ("customer_wallet", "total_recharged"): _l("Total recharged"),
    ("customer_wallet", "total_spent"): _l("Total spent"),
    ("customer_status", "suspended"): _l("Suspended"),
    ("ledger_chain", "balance_before"): _l("Balance before the movement"),
    ("ledger_chain", "balance_after"): _l("Balance after the movement"),
    ("monthly_balance", "opening_balance"): _l("Opening balance of the month"),
    ("monthly_balance", "total_deposits"): _l("Deposits in the month"),
    ("monthly_balance", "total_purchases"): _l("Purchases in the month"),
    ("monthly_balance", "closing_balance"): _l("Closing balance of the month"),
    ("monthly_balance", "total_volume_sm3"): _l("Volume in the month (Sm³)"),
    ("monthly_balance", "closing_equals_wallet_balance"): _l("Latest closing balance against the wallet balance"),
    ("meter_balance", "balance"): _l("Balance due on the meter"),
    ("meter_balance", "overpayment"): _l("Overpayment on the meter"),
    ("customer_meter_totals", "amount_due"): _l("Amount due"),
    ("customer_meter_totals", "overpayment"): _l("Overpayment"),
    ("invoice_outstanding", "outstanding"): _l("Outstanding on the invoice"),
    ("payment_unapplied", "unapplied"): _l("Unapplied part of the payment"),
    ("invoice_tax", "net"): _l("Net its lines make"),
    ("invoice_tax", "vat"): _l("VAT on the invoice's net"),
    ("invoice_tax", "line_vat"): _l("Lines whose VAT is not their share"),
    ("invoice_tax", "line_rates"): _l("Lines taxed at another rate than the one in force"),
    ("invoice_tax", "vat_rate"): _l("VAT rate of the invoice"),
    ("invoice_tax", "vat_posted"): _l("VAT posted to VAT payable"),
    ("home_tallies", "value"): _l("Sum or count kept for the home page"),
    ("customer_words", "words"): _l("Search words missing or stray"),
    ("journal_balanced", "credits"): _l("Credits against debits"),
    ("journal_balanced", "lines"): _l("Number of lines"),
    ("movement_accounts", "account_1000"): _l("Moved on 1000 Cash"),
    ("movement_accounts", "account_1100"): _l("Moved on 1100 Receivables"),
    ("movement_accounts", "account_2000"): _l("Moved on 2000 Customer deposits"),
    ("movement_accounts", "account_3100"): _l("Moved on 3100 Opening balance equity"),
    ("movement_accounts", "account_4000"): _l("Moved on 4000 Gas revenue"),
    ("movement_accounts", "other_accounts"): _l("Moved on accounts its rule does not name"),
    ("movement_accounts", "lines_total"): _l("Total of the entry's lines"),
    ("account_balance", "balance"): _l("Account balance"),
    ("balance_sheet", "assets"): _l("Assets against liabilities, equity and earnings"),
    ("wallet_ledger_agreement", "balance"): _l("Customer deposits against the wallets"),
    ("receivables_agreement", "balance"): _l("Receivables against the meters' invoices"),
    ("history_drift", "values"): _l("Values against the latest history version"),
}
"""Per check and field code name, what a clerk calls the field."""

DRIFT_STATES = {
    "no version": _l("No history version: written outside the application"),
    "version says deleted": _l("Exists though its history says deleted"),
    "deleted without a version": _l("Deleted outside the application"),
}
"""The ``history_drift`` findings that are a state of the record rather than a list of its columns."""

SEALS = {
    "balance_transactions": _l("Seal of the wallet movement"),
    "journal_entries": _l("Seal of the journal entry"),
    "approval_requests": _l("Seal of the approval request"),
    "approval_decisions": _l("Seal of the approval decision"),
    "approval_first_approvals": _l("Seal of the first approval of an approval request"),
    "reconciliation_runs": _l("Seal of the reconciliation run"),
}
"""An ``evidence_seals`` finding's field is the kind of evidence (see :mod:`backoffice.evidence.seals`): each one's
words, but the history tables', named after their record's table."""


ENTITIES = {
    "customer": _l("customer"),
    "order": _l("order"),
    "account_manager": _l("account manager"),
    "target": _l("target"),
    "meter": _l("meter"),
    "meter_reading": _l("meter reading"),
    "meter_assignment": _l("meter assignment"),
    "customer_pricing": _l("pricing row"),
    "balance_transaction": _l("wallet movement"),
    "account": _l("account"),
    "journal_entry": _l("journal entry"),
    "invoice": _l("invoice"),
    "payment": _l("payment"),
    "payment_allocation": _l("payment allocation"),
    "user": _l("user"),
    "issuer": _l("issuer"),
    "approval_request": _l("approval request"),
    "reconciliation_run": _l("reconciliation run"),
    "balance_sheet": _l("balance sheet"),
    "tally": _l("home page figure"),
    "evidence": _l("row of evidence"),
    "record": _l("record"),
}
"""Per entity type a discrepancy names, what a clerk calls such an entity."""


def entity_kind(entity_type: str) -> str:
    """What a clerk calls an entity of this type ("customer", "meter reading")."""
    kind = ENTITIES.get(entity_type)
    return str(kind) if kind is not None else entity_type.replace("_", " ")


def entity_tag(entity_type: str, key: str, entity_id: int) -> str:
    """A discrepancy's entity tagged with its type and business key ("customer C0007", "account 1100"); by its id
    when it has no key left (deleted)."""
    return _("%(kind)s %(key)s", kind=entity_kind(entity_type), key=key or f"#{entity_id}")


STATES = {
    "evidence_seals": {0: _l("no valid seal"), 1: _l("sealed")},
    "customer_status": {0: _l("no"), 1: _l("yes")},
}
"""The checks whose figures are a state rather than an amount or a count: each value's words."""


def state_word(check: str, value) -> str | None:
    """A figure of a check of :data:`STATES` in words (``0``: "no valid seal"); None for any other figure."""
    said = STATES.get(check, {}).get(value)
    return None if said is None else str(said)


def fields_said(check) -> str:
    """The fields a check writes, as a clerk reads them, in the order it lists them."""
    return ", ".join(field_label(check.name, f.name) for f in check.fields())


def field_label(check: str, field: str) -> str:
    """A discrepancy's field as a clerk reads it; the code name when no words are known for it."""
    if (check, field) in FIELD_LABELS:
        return str(FIELD_LABELS[check, field])
    if check == "history_drift":
        if field in DRIFT_STATES:
            return str(DRIFT_STATES[field])
        return _("Changed outside the application: %(columns)s", columns=field)
    if check == "evidence_seals":
        if field in SEALS:
            return str(SEALS[field])
        return _("Seal of the history version of %(table)s", table=field.removesuffix("_history"))
    return field


def reason_said(reason: str | None) -> str:
    """A discrepancy's reason for being left unfixed in the reader's words, read back from the English it is kept in
    (see :mod:`backoffice.platform.sentences`); a reason in other words as kept."""
    return sentences.said(
        reason,
        (
            quarantine.REASON,
            quarantine.ACCOUNT_REASON,
            journal_balanced.UNBALANCED,
            ledger_chain.BROKEN,
            sources.READS_TAMPERED,
            reading_calculation.ABOVE_LIMIT,
            reading_calculation.CUSTOMER_CLOSED,
            reading_calculation.MONTH_CLOSED,
        ),
    )
