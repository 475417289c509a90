"""Meters, their readings and prices, the tariff and the meter readers' route sheet."""
