"""The two APIs: the operations' health API (``health``) and the clients' API (``clients``)."""
