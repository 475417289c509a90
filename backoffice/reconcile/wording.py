"""What a clerk reads for each check's field: the one place its words are kept, as plain strings (ready to be
wrapped for translation). The code names stay the machine's: the CSV's ``field`` column, the API, the commands."""

from __future__ import annotations

FIELD_LABELS: dict[tuple[str, str], str] = {
    ("order_grand_total", "grand_total"): "Grand total",
    ("target_achieved", "achieved_amount"): "Achieved amount",
    ("order_month_totals", "order_count"): "Number of orders in the month",
    ("order_month_totals", "grand_total"): "Grand total of the month's orders",
    ("reading_calculation", "volume_flow_meter"): "Flow-meter volume (m³)",
    ("reading_calculation", "meter_correction"): "Meter correction factor",
    ("reading_calculation", "price_per_sm3"): "Price per Sm³",
    ("reading_calculation", "volume_sm3"): "Volume (Sm³)",
    ("reading_calculation", "total_price"): "Price of the reading",
    ("reading_calculation", "charged"): "Charged to the wallet",
    ("customer_wallet", "balance"): "Wallet balance",
    ("customer_wallet", "total_recharged"): "Total recharged",
    ("customer_wallet", "total_spent"): "Total spent",
    ("customer_status", "suspended"): "Suspended (1 = yes)",
    ("ledger_chain", "balance_before"): "Balance before the movement",
    ("ledger_chain", "balance_after"): "Balance after the movement",
    ("monthly_balance", "opening_balance"): "Opening balance of the month",
    ("monthly_balance", "total_deposits"): "Deposits in the month",
    ("monthly_balance", "total_purchases"): "Purchases in the month",
    ("monthly_balance", "closing_balance"): "Closing balance of the month",
    ("monthly_balance", "total_volume_sm3"): "Volume in the month (Sm³)",
    ("monthly_balance", "closing_equals_wallet_balance"): "Latest closing balance against the wallet balance",
    ("meter_balance", "balance"): "Balance due on the meter",
    ("meter_balance", "overpayment"): "Overpayment on the meter",
    ("customer_meter_totals", "amount_due"): "Amount due",
    ("customer_meter_totals", "overpayment"): "Overpayment",
    ("journal_balanced", "credits"): "Credits against debits",
    ("journal_balanced", "lines"): "Number of lines",
    ("account_balance", "balance"): "Account balance",
    ("balance_sheet", "assets"): "Assets against liabilities, equity and earnings",
    ("wallet_ledger_agreement", "balance"): "Customer deposits against the wallets",
    ("receivables_agreement", "balance"): "Receivables against the meters' invoices",
    ("history_drift", "values"): "Values against the latest history version",
}
"""Per check and field code name, what a clerk calls the field."""

DRIFT_STATES = {
    "no version": "No history version: written outside the application",
    "version says deleted": "Exists though its history says deleted",
    "deleted without a version": "Deleted outside the application",
}
"""The ``history_drift`` findings that are a state of the record rather than a list of its columns."""

DRIFT_COLUMNS = "Changed outside the application: {columns}"
SEAL = "Seal of the {evidence}"
"""An ``evidence_seals`` finding: its field is the kind of evidence, named by ``seals``."""


def field_label(check: str, field: str) -> str:
    """A discrepancy's field as a clerk reads it; the code name when no words are known for it."""
    if (check, field) in FIELD_LABELS:
        return FIELD_LABELS[check, field]
    if check == "history_drift":
        return DRIFT_STATES.get(field) or DRIFT_COLUMNS.format(columns=field)
    if check == "evidence_seals":
        from backoffice import seals

        evidence = seals.kinds().get(field)
        return SEAL.format(evidence=evidence.label if evidence is not None else field.replace("_", " "))
    return field
