"""Notices: a request decided tells its requester, a request asked tells the admins who may decide it, a job ended
tells whoever started it; each said in the reader's language when read, counted in the header on every page, and
seen and marked only by its reader. My requests: a user's own approval requests with their decisions."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import BalanceTransaction, JobStatus, Notice, NoticeKind, User
from backoffice.platform.extensions import db
from backoffice.services import approvals, notices, wallet
from tests.factories import PASSWORD, CustomerFactory, OrderFactory, UserFactory, corrupt
from tests.logins import log_in
from tests.pages import text

D = Decimal
ADJUST = {
    "adjust-direction": "up",
    "adjust-amount": "60.000",
    "adjust-reason": "other",
    "adjust-description": "Meter misread in October",
    "adjust-idempotency_key": "k-1",
}


@pytest.fixture
def charge(hotel):
    """A charge of Rp7.000 on the hotel, within the approval limit."""
    return wallet.charge(hotel, D("7000"))


def noticed(user: User) -> list[Notice]:
    """The user's notices, oldest first, as a new transaction sees them."""
    db.session.rollback()
    return list(db.session.scalars(sa.select(Notice).where(Notice.user_id == user.id).order_by(Notice.id)))


def header_count(page: str) -> str | None:
    found = re.search(r'<span class="badge" id="unread-notices"[^>]*>([^<]*)</span>', page)
    return found.group(1) if found else None


def row(page: str, notice: Notice) -> str:
    return re.search(rf'<tr id="notice-{notice.id}" [^>]*>.*?</tr>', page).group(0)


def token(page: str, action: str) -> str:
    """The CSRF token of the page's form posting to ``action``."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}">(.*?)</form>', page).group(1)
    return re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def asked_reversal(clerk: User, charge, why: str = "Charged twice"):
    return approvals.ask_wallet_reversal(charge, description=why, value_date=None, user=clerk)


def set_language(user: User, language: str) -> None:
    db.session.get(User, user.id).language = language
    db.session.commit()


# --- A decision tells the requester, on their next page, in their language -------------------------------------------


@pytest.mark.parametrize(
    ("language", "label", "approved"),
    [("id", "Pembalikan dompet", "disetujui"), ("vi", "Đảo biến động ví", "đã phê duyệt")],
)
def test_a_clerk_s_reversal_an_admin_approved_is_an_unread_notice_on_their_next_page(
    client, limit, charge, clerk, checker, language, label, approved
):
    request = asked_reversal(clerk, charge)
    log_in(client, clerk)
    assert header_count(text(client.get("/"))) is None
    assert noticed(clerk) == []

    approvals.approve(request.id, checker)
    set_language(clerk, language)

    (notice,) = noticed(clerk)
    assert (notice.kind, notice.read_at, notice.target) == (
        NoticeKind.REQUEST_APPROVED,
        None,
        f"/approvals/mine#request-{request.id}",
    )
    assert notice.facts == {
        "request": request.id,
        "kind": "wallet_reversal",
        "amount": "7000.00",
        "customer": "HOTEL",
        "by": checker.id,
    }
    home = text(client.get("/"))
    assert header_count(home) == "1" and 'href="/notices"' in home
    listed = row(text(client.get("/notices")), notice)
    assert 'class="unread"' in listed and f"#{request.id}" in listed and checker.name in listed
    assert label in listed and "HOTEL" in listed  # what was asked, said in the reader's language when read
    mine = re.search(rf'<tr id="request-{request.id}".*?</tr>', text(client.get("/approvals/mine"))).group(0)
    assert label in mine and approved in mine and checker.name in mine


def test_the_same_notice_is_said_in_whichever_language_its_reader_reads_now(client, limit, charge, clerk, checker):
    approvals.approve(asked_reversal(clerk, charge).id, checker)
    (notice,) = noticed(clerk)
    log_in(client, clerk)
    set_language(clerk, "id")
    assert "Pembalikan dompet" in row(text(client.get("/notices")), notice)
    set_language(clerk, "vi")
    assert "Đảo biến động ví" in row(text(client.get("/notices")), notice)
    set_language(clerk, "en")
    assert f"Your request #{notice.facts['request']} was approved by" in row(text(client.get("/notices")), notice)


def test_a_rejection_tells_the_requester_why(client, limit, charge, clerk, checker):
    request = asked_reversal(clerk, charge)
    approvals.reject(request.id, checker, "  Not charged twice: two deliveries  ")

    (notice,) = noticed(clerk)
    assert notice.kind is NoticeKind.REQUEST_REJECTED
    assert notice.facts["reason"] == "Not charged twice: two deliveries"
    log_in(client, clerk)
    listed = row(text(client.get("/notices")), notice)
    assert (
        f"Your request #{request.id} was rejected by {checker.name}: Wallet reversal of Rp7.000,00 for HOTEL. "
        "Why: Not charged twice: two deliveries"
    ) in listed
    set_language(clerk, "id")
    mine = re.search(rf'<tr id="request-{request.id}".*?</tr>', text(client.get("/approvals/mine"))).group(0)
    assert "Not charged twice: two deliveries" in mine and checker.name in mine and "ditolak" in mine


def test_a_decision_refused_tells_no_one_and_a_first_approval_is_no_decision(
    client, limit, hotel, clerk, maker, checker
):
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    request = asked_reversal(clerk, deposit, "Deposited twice")  # Rp100.000: above the limit, two admins approve
    approvals.approve(request.id, maker)
    assert noticed(clerk) == []
    with pytest.raises(approvals.ApprovedFirst):
        approvals.approve(request.id, maker)
    with pytest.raises(approvals.OwnRequest):
        approvals.reject(request.id, clerk, "mine")
    assert noticed(clerk) == []
    log_in(client, clerk)
    mine = re.search(rf'<tr id="request-{request.id}".*?</tr>', text(client.get("/approvals/mine"))).group(0)
    assert f"Approved first by {maker.name}" in mine and "pending" in mine

    approvals.approve(request.id, checker)
    (notice,) = noticed(clerk)
    assert (notice.kind, notice.facts["by"]) == (NoticeKind.REQUEST_APPROVED, checker.id)


# --- A request asked tells the admins who may decide it, never the requester -----------------------------------------


def test_an_admin_gets_a_notice_for_a_waiting_request_and_the_requester_does_not(
    client, limit, charge, clerk, maker, checker
):
    gone = UserFactory(email="gone@example.com", role="admin", active=False)
    request = asked_reversal(clerk, charge)

    assert noticed(clerk) == [] and noticed(gone) == []
    for admin in (maker, checker):
        (notice,) = noticed(admin)
        assert (notice.kind, notice.target, notice.facts["by"]) == (
            NoticeKind.REQUEST_WAITING,
            f"/approvals#request-{request.id}",
            clerk.id,
        )
    log_in(client, checker)
    page = text(client.get("/notices"))
    assert header_count(page) == "1"
    assert f"{clerk.name} asks for your decision on request #{request.id}: Wallet reversal of Rp7.000,00" in page

    assert client.post("/customers/HOTEL/adjust", data=ADJUST).status_code == 302
    assert [n.kind for n in noticed(checker)] == [NoticeKind.REQUEST_WAITING]  # not told of their own request
    assert [n.kind for n in noticed(maker)] == [NoticeKind.REQUEST_WAITING] * 2
    assert noticed(clerk) == []


def test_a_request_decided_marks_every_admin_s_notice_that_it_waited_read(client, limit, charge, clerk, maker, checker):
    request = asked_reversal(clerk, charge)
    other = asked_reversal(clerk, wallet.charge(charge.customer_id, D("5000")), "Also twice")

    approvals.approve(request.id, checker)

    for admin in (maker, checker):
        settled, waiting = noticed(admin)
        assert settled.target == f"/approvals#request-{request.id}" and settled.read_at is not None
        assert waiting.target == f"/approvals#request-{other.id}" and waiting.read_at is None
    log_in(client, maker)
    assert header_count(text(client.get("/notices"))) == "1"


# --- A job ended tells whoever started it -----------------------------------------------------------------------------


def test_a_job_a_user_started_that_finishes_or_fails_tells_them(client, clerk):
    customer = CustomerFactory(code="HOTEL")
    finished, _ = jobs.enqueue("recalculate_customer", {"customer_id": customer.id}, user=clerk)
    assert finished.status is JobStatus.FINISHED

    (notice,) = noticed(clerk)
    assert (notice.kind, notice.facts, notice.target) == (
        NoticeKind.JOB_FINISHED,
        {"job": finished.id, "status": "finished"},
        f"/jobs/{finished.id}",
    )
    order = OrderFactory()
    corrupt("orders", "promo", order.id, "99999999.00")
    failed, _ = jobs.enqueue("verify", {"fix": True}, user=clerk)
    assert failed.status is JobStatus.FAILED
    assert [n.kind for n in noticed(clerk)] == [NoticeKind.JOB_FINISHED, NoticeKind.JOB_FAILED]

    jobs.enqueue("verify", {})  # no one started it: no one is told
    assert len(db.session.scalars(sa.select(Notice)).all()) == 2

    log_in(client, clerk)
    page = text(client.get("/notices"))
    assert header_count(page) == "2"
    assert "Your job finished: Recalculate customer HOTEL" in page and "Your job failed: Verify and fix" in page


# --- A reader sees and marks only their own; opening marks read -------------------------------------------------------


def test_another_user_s_notice_id_is_not_found_and_stays_unread(client, limit, charge, clerk, maker, checker):
    asked_reversal(clerk, charge)
    (theirs,) = noticed(maker)
    log_in(client, checker)
    for notice_id in (theirs.id, theirs.id + 1000, 10**30):
        assert client.post(f"/notices/{notice_id}/open").status_code == 404
    assert noticed(maker)[0].read_at is None
    assert f'id="notice-{theirs.id}"' not in text(client.get("/notices"))


def test_opening_a_notice_marks_it_read_and_mark_all_read_marks_the_rest(csrf_app, limit, hotel, clerk, checker):
    client = csrf_app.test_client()
    for amount in ("1000", "2000", "3000"):
        charge = wallet.charge(hotel, D(amount))
        approvals.approve(asked_reversal(clerk, charge).id, checker)
    first, second, third = noticed(clerk)
    log_in_with_csrf(client, clerk)

    page = text(client.get("/notices"))
    assert header_count(page) == "3"
    action = f"/notices/{first.id}/open"
    assert client.post(action).status_code == 400  # no CSRF token: refused, nothing marked
    assert noticed(clerk)[0].read_at is None
    opened = client.post(action, data={"csrf_token": token(page, action)})
    assert (opened.status_code, opened.location) == (302, first.target)
    assert [n.read_at is None for n in noticed(clerk)] == [False, True, True]

    page = text(client.get("/notices"))
    assert header_count(page) == "2" and 'class="read"' in row(page, first)
    read_at = noticed(clerk)[0].read_at
    again = client.post(action, data={"csrf_token": token(page, action)})  # opened again: still read since then
    assert again.status_code == 302 and noticed(clerk)[0].read_at == read_at

    page = text(client.get("/notices"))
    done = client.post("/notices/read", data={"csrf_token": token(page, "/notices/read")}, follow_redirects=True)
    assert "Every notice is marked read." in text(done)
    assert header_count(text(done)) is None and 'id="read-all"' not in text(done)
    assert all(n.read_at is not None for n in noticed(clerk))
    assert noticed(clerk)[0].read_at == read_at


def log_in_with_csrf(client, user: User) -> None:
    login = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf})
    assert response.status_code == 302


def test_a_target_that_leaves_the_application_leads_to_the_notices(client, clerk):
    for target in ("https://example.org/", "//example.org/", "/\\example.org"):
        db.session.add(Notice(user_id=clerk.id, kind=NoticeKind.JOB_FINISHED, facts={"job": "x"}, target=target))
    db.session.commit()
    log_in(client, clerk)
    for notice in noticed(clerk):
        assert client.post(f"/notices/{notice.id}/open").location == "/notices"


# --- Bounded: the count stops at 99+, the page reads a page at a time ------------------------------------------------


def test_many_notices_are_counted_to_99_plus_and_listed_a_page_at_a_time(client, clerk):
    db.session.execute(
        sa.insert(Notice),
        [
            {"user_id": clerk.id, "kind": "job_finished", "facts": {"job": f"job-{n}", "status": "finished"}}
            | {"target": f"/jobs/job-{n}"}
            for n in range(120)
        ],
    )
    db.session.commit()
    assert notices.unread(clerk.id) == notices.COUNTED
    log_in(client, clerk)
    page = text(client.get("/"))
    assert header_count(page) == "99+"

    first = text(client.get("/notices"))
    ids = [int(found) for found in re.findall(r'<tr id="notice-(\d+)"', first)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="/notices\?before=(\d+)" id="older"', first).group(1)
    assert int(older) == ids[-1]
    second = text(client.get(f"/notices?before={older}"))
    assert [int(found) for found in re.findall(r'<tr id="notice-(\d+)"', second)] == [i - 50 for i in ids]
    for before in ("abc", "-1", "0", str(10**30)):
        assert re.findall(r'<tr id="notice-(\d+)"', text(client.get(f"/notices?before={before}")))[0] == str(ids[0])


# --- My requests ------------------------------------------------------------------------------------------------------


def test_my_requests_lists_the_clerk_s_own_requests_only(client, limit, hotel, clerk, maker, checker):
    other = UserFactory(email="other@example.com", role="finance")
    charges = [wallet.charge(hotel, D(amount)) for amount in ("1000", "2000", "3000")]
    approved = asked_reversal(clerk, charges[0], "Charged twice")
    rejected = asked_reversal(clerk, charges[1], "Wrong customer")
    theirs = asked_reversal(other, charges[2], "Someone else's")
    approvals.approve(approved.id, checker)
    approvals.reject(rejected.id, checker, "It was right")
    log_in(client, maker)  # an admin's own request is theirs, not the clerk's
    assert client.post("/customers/HOTEL/adjust", data=ADJUST).status_code == 302

    log_in(client, clerk)
    home = text(client.get("/"))
    assert 'id="nav-my-requests"' in home and 'href="/approvals/mine"' in home
    page = text(client.get("/approvals/mine"))
    assert re.findall(r'<tr id="request-(\d+)"', page) == [str(rejected.id), str(approved.id)]
    assert str(theirs.id) not in re.findall(r'<tr id="request-(\d+)"', page)
    rows = {r.id: re.search(rf'<tr id="request-{r.id}".*?</tr>', page).group(0) for r in (approved, rejected)}
    assert (
        "approved by" in rows[approved.id] and checker.name in rows[approved.id] and "Rp1.000,00" in rows[approved.id]
    )
    assert "Charged twice" in rows[approved.id] and "Wallet reversal" in rows[approved.id]
    assert f"rejected by {checker.name}" in rows[rejected.id] and "It was right" in rows[rejected.id]

    asked_reversal(clerk, wallet.charge(hotel, D("4000")), "Entered twice")
    waiting = re.search(r'<tr id="request-\d+"[^>]*>.*?</tr>', text(client.get("/approvals/mine"))).group(0)
    assert "Entered twice" in waiting and "Waiting for an admin." in waiting and "pending" in waiting
