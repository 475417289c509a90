"""An import is its maker's: only the user who uploaded it, or an admin, opens it, changes its columns, runs it or
downloads its rows; a column choice is remembered for whoever chose it (an admin's for everyone)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Import, ImportColumn, ImportStatus, Payment
from backoffice.platform.extensions import db
from tests.factories import metered_customer
from tests.workers import run_worker

PAYMENTS = b"Meter serial;Payment reference;Amount;Paid on;Saldo\nM-1;TRF-1;1000;2026-10-01;9000000\n"


def uploaded(client, kind: str, content: bytes, name: str = "file.csv") -> str:
    sent = client.post(
        "/imports", data={"kind": kind, "file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    return sent.headers["Location"]


@pytest.fixture
def payments_import(app, client, auth, redis_url) -> tuple[str, Import]:
    """An admin's payments import, checked by a real worker as the runtime role; the admin logged out."""
    metered_customer("C-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-1")
    auth.login("admin")
    page = uploaded(client, "payments", PAYMENTS)
    run_worker(app, redis_url)  # the check
    auth.logout()
    return page, db.session.scalar(sa.select(Import))


@pytest.mark.production_path("real workers")
def test_another_clerk_cannot_open_remap_run_or_download_an_admins_import(app, client, auth, payments_import):
    page, record = payments_import
    assert record.status == ImportStatus.CHECKED
    auth.login("finance")
    columns = {"version": str(record.version), "column-0": "meter", "column-1": "reference"}
    columns |= {"column-2": "meter_due", "column-3": "paid_on", "column-4": "amount"}
    assert client.get(page).status_code == 403
    assert client.post(page + "/columns", data=columns).status_code == 403
    assert client.post(page + "/run", data={"valid_only": "1"}).status_code == 403
    assert client.get(page + "/rejected.xlsx").status_code == 403
    assert client.get(page + "/report.csv").status_code == 403
    assert f"/imports/{record.id}" not in client.get("/imports").get_data(as_text=True)
    db.session.expire_all()
    kept = db.session.get(Import, record.id)
    assert (kept.status, kept.version, kept.mapping) == (record.status, record.version, record.mapping)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportColumn)) == 0


@pytest.mark.production_path("real workers")
def test_the_maker_and_any_admin_act_on_it(app, client, auth, payments_import, redis_url):
    page, record = payments_import
    auth.login("admin")  # another admin than its maker
    assert client.get(page).status_code == 200
    assert client.post(page + "/run").status_code == 302
    run_worker(app, redis_url)
    db.session.expire_all()
    assert db.session.get(Import, record.id).status == ImportStatus.DONE
    assert db.session.scalar(sa.select(Payment.amount)) == Decimal("1000.00")


@pytest.mark.production_path("real workers")
def test_a_clerk_acts_on_their_own_import_and_lists_only_theirs(app, client, auth, payments_import):
    _page, theirs = payments_import
    auth.login("finance")
    own = uploaded(client, "payments", PAYMENTS.replace(b"TRF-1", b"TRF-2"))
    assert client.get(own).status_code == 200
    listed = client.get("/imports").get_data(as_text=True)
    assert own.removeprefix("http://localhost") in listed and f'/imports/{theirs.id}"' not in listed


def test_a_clerks_column_choice_is_theirs_and_an_admins_everyones(app, client, auth):
    metered_customer("C-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-1")
    content = b"Alat;Ref;Nilai;Tanggal\nM-1;TRF-1;1000;2026-10-01\n"
    clerk = auth.login("finance")
    page = uploaded(client, "payments", content)
    record = db.session.scalar(sa.select(Import))
    choice = {"version": str(record.version), "column-0": "meter", "column-1": "reference", "column-2": "amount"}
    assert client.post(page + "/columns", data=choice | {"column-3": "paid_on"}).status_code == 302
    remembered = dict(db.session.execute(sa.select(ImportColumn.header, ImportColumn.chosen_by_id)).all())
    assert "Alat" in remembered and set(remembered.values()) == {clerk.id}
    auth.logout()
    auth.login("admin")
    other = uploaded(client, "payments", content.replace(b"TRF-1", b"TRF-2"))
    shown = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
    assert other.endswith(f"/{shown.id}") and shown.report["preview"]["missing"]  # not read as the clerk chose
    choice = {"version": str(shown.version), "column-0": "meter", "column-1": "reference", "column-2": "amount"}
    assert client.post(other + "/columns", data=choice | {"column-3": "paid_on"}).status_code == 302
    auth.logout()
    auth.login("finance")
    third = uploaded(client, "payments", content.replace(b"TRF-1", b"TRF-3"))
    newest = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
    assert third.endswith(f"/{newest.id}")
    assert dict(newest.report["preview"]["columns"]) == {
        "Alat": "meter",
        "Ref": "reference",
        "Nilai": "amount",
        "Tanggal": "paid_on",
    }
