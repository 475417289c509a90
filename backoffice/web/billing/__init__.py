"""Invoices and payments changed after they were written, the receivables' lists and the customers' statements."""
