"""What admins do: users, the issuer, the month-end, approvals, imports and the clients' API keys."""
