"""Orders, the account managers and their targets."""
