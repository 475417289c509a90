"""A customer's screens: the list, the customer's page and its tabs, its forms, its wallet's ledger and its months."""
