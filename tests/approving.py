"""Money moved by hand above the limit, asked for on the customer's page: what a maker sends, and the requests that
wait for a second admin."""

from __future__ import annotations

import sqlalchemy as sa

from backoffice.models import ApprovalRequest
from backoffice.platform.extensions import db
from tests.logins import log_in


def requests() -> list[ApprovalRequest]:
    """Every approval request, oldest first."""
    db.session.rollback()
    return list(db.session.scalars(sa.select(ApprovalRequest).order_by(ApprovalRequest.id)))


def adjust_form(amount: str, *, direction: str = "up", key: str = "k-1", **fields) -> dict:
    """The customer page's form adjusting a balance by ``amount``, as a maker sends it."""
    return {
        "adjust-direction": direction,
        "adjust-amount": amount,
        "adjust-reason": "other",
        "adjust-description": "Meter misread in October",
        "adjust-idempotency_key": key,
    } | {f"adjust-{name}": value for name, value in fields.items()}


def ask(client, maker, amount: str = "60.000", **fields) -> ApprovalRequest:
    """The hotel's balance adjusted by ``maker`` above the limit: the one request that waits for a second admin."""
    log_in(client, maker)
    response = client.post("/customers/HOTEL/adjust", data=adjust_form(amount, **fields), follow_redirects=True)
    assert response.status_code == 200
    assert "This amount needs a second admin&#39;s approval" in response.get_data(as_text=True)
    (request,) = requests()
    return request
