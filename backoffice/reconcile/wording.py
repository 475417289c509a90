"""What a clerk reads for each check's field, in the reader's language: the one place its words are kept. The code
names stay the machine's: the CSV's ``field`` column, the API, the commands."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

FIELD_LABELS: dict[tuple[str, str], object] = {
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
    ("customer_status", "suspended"): _l("Suspended (1 = yes)"),
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
    ("journal_balanced", "credits"): _l("Credits against debits"),
    ("journal_balanced", "lines"): _l("Number of lines"),
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

DRIFT_COLUMNS = _l("Changed outside the application: %(columns)s")
SEAL = _l("Seal of the %(evidence)s")
"""An ``evidence_seals`` finding: its field is the kind of evidence, named by ``seals``."""


def field_label(check: str, field: str) -> str:
    """A discrepancy's field as a clerk reads it; the code name when no words are known for it."""
    if (check, field) in FIELD_LABELS:
        return str(FIELD_LABELS[check, field])
    if check == "history_drift":
        return str(DRIFT_STATES[field]) if field in DRIFT_STATES else str(DRIFT_COLUMNS) % {"columns": field}
    if check == "evidence_seals":
        from backoffice import seals

        evidence = seals.kinds().get(field)
        return str(SEAL) % {"evidence": evidence.label if evidence is not None else field.replace("_", " ")}
    return field
