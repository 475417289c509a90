"""The general ledger: the journal and its accounts, the months closed and reopened, the wallet movements' list."""
