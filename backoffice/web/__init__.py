"""Blueprints and forms, one module per screen group."""
