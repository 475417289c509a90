"""What keeps the figures provably right: jobs, each record's history, tampered evidence, reconciliation runs."""
