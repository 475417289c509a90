"""Dates as their reader writes them: dd/mm/yyyy in Indonesian and Vietnamese, the ISO form in English and always read;
a date that cannot be read is the field's error, never today; a field left empty on purpose is today."""

from __future__ import annotations

import re
from datetime import date

import pytest

from backoffice.platform.clock import local_today
from tests.pages import INDONESIAN, VIETNAMESE
from tests.rows import newest, written

ENGLISH: dict[str, str] = {}


def error_under(response, field: str) -> str:
    return re.search(rf'id="error-{field}">([^<]*)<', response.get_data(as_text=True)).group(1)


def recharge(client, value_date: str, headers: dict, key: str = "k-1"):
    form = {"recharge-amount": "1.000", "recharge-value_date": value_date, "recharge-idempotency_key": key}
    return client.post("/customers/HOTEL/recharge", data=form, headers=headers)


@pytest.mark.parametrize(
    ("headers", "typed", "said"),
    [
        (INDONESIAN, "31/11/2026", "Tanggal tidak valid. Tulis tanggal sebagai hh/bb/tttt, mis. {today}."),
        (INDONESIAN, "2026-02-30", "Tanggal tidak valid. Tulis tanggal sebagai hh/bb/tttt, mis. {today}."),
        (VIETNAMESE, "31/11/2026", "Ngày không hợp lệ. Hãy viết ngày theo dạng dd/mm/yyyy, ví dụ {today}."),
        (ENGLISH, "31/11/2026", "Not a valid date. Write the date as YYYY-MM-DD, e.g. {iso}."),
        (ENGLISH, "20/10/2026", "Not a valid date. Write the date as YYYY-MM-DD, e.g. {iso}."),
        (INDONESIAN, "20-10", "Tanggal tidak valid. Tulis tanggal sebagai hh/bb/tttt, mis. {today}."),
    ],
)
def test_an_unreadable_date_is_a_field_error_in_the_readers_form_and_posts_nothing(
    client, finance, hotel, headers, typed, said
):
    before = written()
    response = recharge(client, typed, headers)
    assert response.status_code == 422
    today = local_today()
    expected = said.format(today=today.strftime("%d/%m/%Y"), iso=today.isoformat())
    assert error_under(response, "recharge-value_date") == expected
    assert f'value="{typed}"' in response.get_data(as_text=True)  # shown as typed, to correct
    assert written() == before


@pytest.mark.parametrize(
    ("headers", "typed"),
    [(INDONESIAN, "20/10/2026"), (VIETNAMESE, "20.10.2026"), (INDONESIAN, "2026-10-20"), (ENGLISH, "2026-10-20")],
)
def test_a_date_in_the_readers_form_or_the_iso_form_is_read(client, finance, hotel, headers, typed):
    assert recharge(client, typed, headers).status_code == 302
    assert newest().value_date == date(2026, 10, 20)


def test_an_optional_date_left_empty_is_today(client, finance, hotel):
    assert recharge(client, "", INDONESIAN).status_code == 302
    assert newest().value_date == local_today()


@pytest.mark.parametrize(
    ("headers", "placeholder", "shown"),
    [
        (INDONESIAN, "hh/bb/tttt", "%d/%m/%Y"),
        (VIETNAMESE, "dd/mm/yyyy", "%d/%m/%Y"),
        (ENGLISH, "YYYY-MM-DD", "%Y-%m-%d"),
    ],
)
def test_a_date_field_shows_its_date_and_its_form_as_the_reader_writes_them(
    client, finance, hotel, headers, placeholder, shown
):
    page = client.get("/customers/HOTEL?tab=ledger", headers=headers).get_data(as_text=True)
    field = re.search(r'<input[^>]*name="recharge-value_date"[^>]*>', page).group(0)
    assert 'type="text"' in field and f'placeholder="{placeholder}"' in field
    assert f'value="{local_today().strftime(shown)}"' in field


def test_a_reversal_dated_with_a_date_that_cannot_be_read_is_refused_not_dated_today(client, admin, hotel):
    movement = newest()
    url = f"/customers/HOTEL/movements/{movement.id}/reverse"
    before = written()
    response = client.post(url, data={"value_date": "31/11/2026", "description": "wrong"}, headers=INDONESIAN)
    assert response.status_code == 422
    assert error_under(response, "value_date").startswith("Tanggal tidak valid.")
    assert written() == before
