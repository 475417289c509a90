"""Importing an installation's data from files."""
