"""The models, one module per business module; importing this package registers them all."""

from backoffice.models.billing import (
    Invoice,
    Meter,
    MeterAssignment,
    MeterStatus,
    Payment,
    customer_meter_sums_sql,
    meter_balance_sql,
    meter_overpayment_sql,
)
from backoffice.models.customers import AccountManager, Customer, CustomerStatus
from backoffice.models.jobs import JobRecord, JobStatus
from backoffice.models.metering import (
    CustomerPricing,
    MeterReading,
    TransactionCalculation,
    pricing_in_force,
    pricing_sql,
    total_price_of,
    total_price_sql,
    volume_sm3_of,
    volume_sm3_sql,
)
from backoffice.models.monthly import (
    MonthlyCustomerBalance,
    RecalculationReason,
    RecalculationRequest,
    expected_months,
    month_contribution,
)
from backoffice.models.orders import COMPONENTS, NegativeGrandTotal, Order, checked_grand_total, grand_total_of
from backoffice.models.reconciliation import (
    CheckResult,
    Discrepancy,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
)
from backoffice.models.targets import Target, achieved_amount_sql
from backoffice.models.users import Role, User
from backoffice.models.wallet import (
    BalanceTransaction,
    TransactionKind,
    ledger_sums,
    recharged_contribution,
    spent_contribution,
)

__all__ = [
    "COMPONENTS",
    "AccountManager",
    "BalanceTransaction",
    "CheckResult",
    "Discrepancy",
    "Invoice",
    "JobRecord",
    "Meter",
    "MeterAssignment",
    "MeterReading",
    "MeterStatus",
    "MonthlyCustomerBalance",
    "RecalculationReason",
    "RecalculationRequest",
    "JobStatus",
    "ReconciliationRun",
    "RunMode",
    "RunStatus",
    "RunTrigger",
    "Customer",
    "CustomerPricing",
    "CustomerStatus",
    "NegativeGrandTotal",
    "Order",
    "Payment",
    "Role",
    "Target",
    "TransactionCalculation",
    "TransactionKind",
    "User",
    "achieved_amount_sql",
    "checked_grand_total",
    "customer_meter_sums_sql",
    "expected_months",
    "grand_total_of",
    "ledger_sums",
    "meter_balance_sql",
    "meter_overpayment_sql",
    "month_contribution",
    "pricing_in_force",
    "pricing_sql",
    "total_price_of",
    "total_price_sql",
    "volume_sm3_of",
    "volume_sm3_sql",
    "recharged_contribution",
    "spent_contribution",
]
