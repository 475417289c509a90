"""The operations' texts in the reader's language: a job's progress kept as facts and said on the panel, the home
page's month and its words for a clerk, durations in the reader's notation, a control account's refusal."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from backoffice import jobs
from backoffice.jobs.messages import WORKER_STOPPED, english, fact, facts, said
from backoffice.jobs.queues import ENDED_EARLY, LOST
from backoffice.jobs.running import _finish
from backoffice.models import JobRecord, JobStatus, RunMode, RunTrigger
from backoffice.models.types import Month, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH, CUSTOMER_DEPOSITS
from backoffice.reconcile import engine
from backoffice.reconcile.fanout import CHUNK_FAILED, LAST_ATTEMPT_STOPPED
from backoffice.services import books, installation
from tests.factories import job_in, unit_of_work
from tests.pages import INDONESIAN, VIETNAMESE, unescaped_html

TOKEN = "a-long-enough-token-for-the-api-tests-0123456789"
TARIFF = {"effective_from": "2026-11-01", "price_per_sm3": "5000", "trigger": "user"}


def running_job(message: str, progress: int = 24):
    return job_in(
        JobStatus.STARTED,
        id="job-reprice",
        kind="tariff_change",
        args=TARIFF,
        queue="recalc",
        progress=progress,
        message=message,
        in_process=True,
        attempts=1,
        heartbeat_at=utcnow(),
    )


def test_a_jobs_progress_is_kept_as_facts_and_said_in_english_in_the_log(app):
    stored = fact("repriced", done=1234, total=5000)
    assert facts(stored) == {"code": "repriced", "done": 1234, "total": 5000}
    assert english(stored) == "1,234 of 5,000 customers re-priced"
    chunk = fact("chunk", check="order_grand_total", done=3, total=7)
    assert english(chunk) == "order_grand_total: chunk 3 of 7"
    assert said(chunk) == "Order grand totals: chunk 3 of 7"
    with pytest.raises(KeyError):
        fact("no such message")


def test_the_job_panel_says_the_progress_and_the_status_in_the_readers_language(client, finance):
    running_job(fact("repriced", done=1234, total=5000))
    indonesian = unescaped_html(client.get("/jobs/job-reprice/panel", headers=INDONESIAN))
    assert "24 % · 1.234 dari 5.000 pelanggan dihitung ulang harganya" in indonesian
    assert "re-priced" not in indonesian and "Started" not in indonesian
    vietnamese = unescaped_html(client.get("/jobs/job-reprice/panel", headers=VIETNAMESE))
    assert "24 % · Đã tính lại giá cho 1.234 trên 5.000 khách hàng" in vietnamese
    assert "24 % · 1.234 of 5.000 customers re-priced" in unescaped_html(client.get("/jobs/job-reprice/panel"))


def test_a_finished_jobs_panel_and_jobs_list_say_finished_in_the_readers_language(app, client, finance):
    record = running_job(fact("started"), progress=0)
    _finish(record.id, JobStatus.FINISHED, result={"recalculations_done": 1234})
    panel = unescaped_html(client.get("/jobs/job-reprice/panel", headers=INDONESIAN))
    assert "100 % · Selesai" in panel and "Finished" not in panel and "1.234" in panel
    listed = unescaped_html(client.get("/jobs", headers=VIETNAMESE))
    assert "100 %" in listed and "hoàn tất" in listed


def test_a_row_kept_from_before_facts_shows_its_sentence(client, finance):
    running_job("Doing pending recalculations")
    assert "Doing pending recalculations" in unescaped_html(client.get("/jobs/job-reprice/panel", headers=INDONESIAN))


def test_the_api_says_a_jobs_message_in_the_requests_language(app, client):
    app.config["API_TOKEN"] = TOKEN
    running_job(fact("chunks_in_steps", done=3, total=1200, step=1, steps=2))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    body = client.get("/admin/jobs/job-reprice", headers={**bearer, **INDONESIAN}).get_json()
    assert body["data"]["message"] == "3 dari 1.200 bagian selesai (langkah 1 dari 2)"
    body = client.get("/admin/jobs/job-reprice", headers=bearer).get_json()
    assert body["data"]["message"] == "3 of 1.200 chunks done (step 1 of 2)"


def test_a_job_s_error_is_said_in_the_readers_language_and_kept_in_english(app, client, finance):
    stopped = WORKER_STOPPED.write(heartbeat="2026-11-25 01:02:03")
    assert stopped == "The worker stopped while the job ran (last heartbeat 2026-11-25 01:02:03 UTC)."
    record = job_in(
        JobStatus.ABANDONED, id="job-lost", kind="tariff_change", args=TARIFF, queue="recalc", message=fact("abandoned")
    )
    last_attempt = LAST_ATTEMPT_STOPPED.write(attempt=3, heartbeat="2026-11-25 01:02:03")
    # The heartbeat is said as the reader's language writes a moment, in English too.
    said_stopped = "The worker stopped while the job ran (last heartbeat 25 Nov 2026, 01.02.03 UTC)."
    for kept, in_english, indonesian, vietnamese in (
        (
            stopped,
            said_stopped,
            "Pekerja latar belakang berhenti saat tugas berjalan (tanda hidup terakhir 25 Nov 2026 01.02.03 UTC)",
            "Tiến trình nền đã dừng khi công việc",
        ),
        (LOST, LOST, "Antrean kehilangan tugas ini", "Hàng đợi đã mất công việc này"),
        (ENDED_EARLY.write(status="failed"), None, "Antrean mengakhiri tugas ini (failed)", "Hàng đợi đã kết thúc"),
        (
            CHUNK_FAILED.write(position=2, of=3, check="order_grand_total", error=last_attempt),
            "Chunk 2 of 3 of Order grand totals failed: The worker stopped during attempt 3 (last heartbeat 25 Nov "
            "2026, 01.02.03 UTC). No attempt is left.",
            "Bagian 2 dari 3 untuk Total keseluruhan pesanan gagal: Pekerja latar belakang berhenti pada percobaan "
            "ke-3 (tanda hidup terakhir 25 Nov 2026 01.02.03 UTC). Tidak ada percobaan tersisa.",
            "Phần 2 trên 3 của Tổng cộng đơn hàng thất bại: Tiến trình nền đã dừng trong lần thử thứ 3",
        ),
        ("ValueError: boom", None, "ValueError: boom", "ValueError: boom"),
    ):
        with unit_of_work():
            db.session.get(JobRecord, record.id).error = kept
        assert indonesian in unescaped_html(client.get(f"/jobs/{record.id}/panel", headers=INDONESIAN))
        assert vietnamese in unescaped_html(client.get("/jobs", headers=VIETNAMESE))
        assert (in_english or kept) in unescaped_html(client.get(f"/jobs/{record.id}/panel"))
    app.config["API_TOKEN"] = TOKEN
    body = client.get(f"/admin/jobs/{record.id}", headers={"Authorization": f"Bearer {TOKEN}", **INDONESIAN})
    assert body.get_json()["data"]["error"] == "ValueError: boom"


def test_a_job_no_worker_takes_tells_a_clerk_whom_to_tell_and_an_admin_which_queue(app, client, auth, redis_url):
    record = job_in(
        JobStatus.QUEUED,
        id="job-waiting",
        kind="verify",
        args={"trigger": "user"},
        queue="recalc",
        message=fact("waiting_for_worker"),
        in_process=False,
        enqueued_at=utcnow() - timedelta(minutes=1),
    )
    jobs.queue("recalc").enqueue("backoffice.jobs.execute", record.id, job_id=record.id)  # no worker takes it
    auth.login("finance")
    page = unescaped_html(client.get(f"/jobs/{record.id}", headers=INDONESIAN))
    assert "Menunggu pekerja latar belakang" in page and "beri tahu administrator Anda" in page
    assert "recalc" not in page
    auth.logout()
    auth.login("admin")
    page = unescaped_html(client.get(f"/jobs/{record.id}", headers=INDONESIAN))
    assert "'recalc'" in page and "administrator" not in page


def test_the_month_heading_begins_with_a_capital_in_the_readers_language(client, finance):
    month = Month.of(local_today())
    vietnamese = unescaped_html(client.get("/", headers=VIETNAMESE))
    heading = vietnamese.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert heading == f"Tháng {month.first_day.month} năm {month.first_day.year}"
    indonesian = unescaped_html(client.get("/", headers=INDONESIAN))
    heading = indonesian.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert heading[0].isupper() and heading.endswith(str(month.first_day.year))


def test_a_clerks_home_page_says_background_work_in_plain_words_in_their_language(client, finance):
    card = unescaped_html(client.get("/", headers=INDONESIAN)).split('id="nightly"', 1)[1].split("</div>", 1)[0]
    assert "beri tahu administrator Anda" in card
    assert "make" not in card and "worker" not in card and "REDIS_URL" not in card


def test_durations_are_written_in_the_readers_notation(app, client, auth):
    auth.login("admin")
    started = utcnow() - timedelta(seconds=3)
    record = job_in(
        JobStatus.FINISHED,
        id="job-timed",
        kind="verify",
        args={"trigger": "user"},
        queue="recalc",
        progress=100,
        message=fact("finished"),
        in_process=True,
        attempts=1,
    )
    db.session.execute(
        sa.update(JobRecord)
        .where(JobRecord.id == record.id)
        .values(started_at=started, ended_at=started + timedelta(milliseconds=300))
    )
    db.session.commit()
    assert "0,3 s" in unescaped_html(client.get("/jobs", headers=INDONESIAN))
    assert "0,3 s" in unescaped_html(client.get("/jobs", headers=VIETNAMESE))
    run = engine.run(RunMode.VERIFY, checks=["order_grand_total"], trigger=RunTrigger.USER)
    page = unescaped_html(client.get(f"/reconciliation/runs/{run.id}", headers=INDONESIAN))
    assert re.search(r"dalam \d+,\d\d dtk", page), page
    assert re.search(
        r"trong \d+,\d\d giây", unescaped_html(client.get(f"/reconciliation/runs/{run.id}", headers=VIETNAMESE))
    )


def test_a_control_accounts_refusal_names_its_sub_ledger_in_the_readers_language(app):
    lines = [Line(CASH, debit=Decimal("10")), Line(CUSTOMER_DEPOSITS, credit=Decimal("10"))]
    for language, words in (("id", "hanya dompet pelanggan yang"), ("vi", "chỉ ví của khách hàng mới")):
        with force_locale(language), pytest.raises(books.ControlAccount) as refused:
            with unit_of_work() as connection:
                books.post(installation(), connection, date(2026, 11, 5), "By hand", lines)
        assert words in str(refused.value) and "customers' wallets" not in str(refused.value)
