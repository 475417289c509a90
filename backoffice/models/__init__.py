"""The models, one module per business module; importing this package registers them all.

The modules that declare models leave their annotations evaluated as Python reads them (no ``from __future__ import
annotations``): SQLAlchemy compiles each annotation kept as text with ``eval``, 10 ms of the 135 ms the declarations
took at every command's start. A model named before it is declared is named in quotes
(``Mapped[list["JournalLine"]]``)."""

# Versioning is set up before the models it versions are declared.
from backoffice.models import history  # noqa: F401, I001
from backoffice.models.approvals import ApprovalKind, ApprovalRequest, ApprovalStatus, HandMove
from backoffice.models.billing import (
    AllocationHow,
    Invoice,
    InvoiceLine,
    LineKind,
    InvoiceStatus,
    Meter,
    MeterAssignment,
    MeterStatus,
    Payment,
    PaymentAllocation,
    covers,
)
from backoffice.models.books import (
    BUCKETS,
    Account,
    AccountBalanceBucket,
    AccountType,
    EntryStatus,
    JournalEntry,
    JournalLine,
    PostingRule,
    account_balance_sql,
    normal_amount,
)
from backoffice.models.columns import ListColumns
from backoffice.models.customers import (
    AccountManager,
    Customer,
    CustomerStatus,
    CustomerWord,
    TaxStatus,
    customer_vocabulary,
)
from backoffice.models.documents import DocumentKind, DocumentSending, SendingOutcome
from backoffice.models.history import HistoryOperation, HistoryTransaction, record
from backoffice.models.imports import Import, ImportColumn, ImportFile, ImportStatus
from backoffice.models.issuer import Issuer, VatRate
from backoffice.models.seals import (
    AnchorRecord,
    EvidenceInsertedBelow,
    EvidenceMark,
    Resolution,
    Seal,
    SealKey,
    TamperedEvidence,
)
from backoffice.models.jobs import DURATION_BUCKETS, JobDurationBucket, JobRecord, JobStatus, duration_bucket
from backoffice.models.metering import (
    CustomerPricing,
    MeterReading,
    TransactionCalculation,
    charged_for_readings,
    pricing_in_force,
    total_price_of,
    volume_sm3_of,
    whose_readings,
)
from backoffice.models.monthly import (
    MonthlyCustomerBalance,
    RecalculationReason,
    RecalculationRequest,
)
from backoffice.models.notices import Notice, NoticeKind
from backoffice.models.orders import (
    COMPONENTS,
    GrandTotalTooLarge,
    NegativeGrandTotal,
    Order,
    OrderMonthTotal,
    checked_grand_total,
    grand_total_of,
)
from backoffice.models.cut_over import CutOver
from backoffice.models.periods import PeriodAction, PeriodActionKind
from backoffice.models.reconciliation import (
    CheckResult,
    ChunkStatus,
    Discrepancy,
    ReconciliationChunk,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
)
from backoffice.models.saved_filters import SavedFilter
from backoffice.models.sent_keys import SentKey
from backoffice.models.tallies import Figure, Tally, TallyChange
from backoffice.models.targets import Target
from backoffice.models.users import Role, User
from backoffice.models.wallet import (
    WALLET_KINDS,
    BalanceTransaction,
    Kind,
    Occasion,
)
from backoffice.models.written_before import WordsWrittenBefore

__all__ = [
    "customer_vocabulary",
    "Figure",
    "Tally",
    "TallyChange",
    "SentKey",
    "AnchorRecord",
    "EvidenceInsertedBelow",
    "EvidenceMark",
    "Resolution",
    "Seal",
    "SealKey",
    "TamperedEvidence",
    "ApprovalKind",
    "ApprovalRequest",
    "ApprovalStatus",
    "HandMove",
    "BUCKETS",
    "COMPONENTS",
    "Account",
    "AccountBalanceBucket",
    "PostingRule",
    "AccountType",
    "EntryStatus",
    "JournalEntry",
    "JournalLine",
    "account_balance_sql",
    "normal_amount",
    "AccountManager",
    "BalanceTransaction",
    "CheckResult",
    "ChunkStatus",
    "Discrepancy",
    "AllocationHow",
    "Invoice",
    "InvoiceLine",
    "LineKind",
    "ListColumns",
    "SavedFilter",
    "InvoiceStatus",
    "PaymentAllocation",
    "DURATION_BUCKETS",
    "JobDurationBucket",
    "JobRecord",
    "duration_bucket",
    "Meter",
    "MeterAssignment",
    "MeterReading",
    "MeterStatus",
    "MonthlyCustomerBalance",
    "Notice",
    "NoticeKind",
    "RecalculationReason",
    "RecalculationRequest",
    "JobStatus",
    "ReconciliationChunk",
    "ReconciliationRun",
    "RunMode",
    "RunStatus",
    "RunTrigger",
    "Customer",
    "DocumentKind",
    "DocumentSending",
    "SendingOutcome",
    "CustomerPricing",
    "CustomerStatus",
    "CustomerWord",
    "GrandTotalTooLarge",
    "HistoryOperation",
    "HistoryTransaction",
    "Import",
    "Issuer",
    "VatRate",
    "ImportColumn",
    "ImportFile",
    "ImportStatus",
    "NegativeGrandTotal",
    "Order",
    "OrderMonthTotal",
    "Payment",
    "PeriodAction",
    "CutOver",
    "PeriodActionKind",
    "Role",
    "Target",
    "TaxStatus",
    "TransactionCalculation",
    "Kind",
    "WALLET_KINDS",
    "Occasion",
    "User",
    "charged_for_readings",
    "checked_grand_total",
    "covers",
    "grand_total_of",
    "record",
    "pricing_in_force",
    "whose_readings",
    "total_price_of",
    "volume_sm3_of",
    "WordsWrittenBefore",
]
