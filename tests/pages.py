"""What the tests read of a page the test client answered, as a reader's eye runs over it, and what they send back
from its forms, as a clerk's browser would."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser

from babel.dates import format_date

from backoffice.platform.clock import local_today

INDONESIAN = {"Accept-Language": "id-ID,id;q=0.9"}
VIETNAMESE = {"Accept-Language": "vi-VN,vi;q=0.9"}
ENGLISH = {"Accept-Language": "en"}
"""The headers of a browser that asks for pages in Indonesian, in Vietnamese, in English."""


def text(response) -> str:
    """The page's HTML, its runs of white space one space each."""
    return " ".join(response.get_data(as_text=True).split())


def unescaped(response) -> str:
    """:func:`text`, its character references read (``&amp;`` is ``&``)."""
    return html.unescape(text(response))


def unescaped_html(response) -> str:
    """The page's HTML as it came, white space and all, its character references read (``&amp;`` is ``&``)."""
    return html.unescape(response.get_data(as_text=True))


def shown(response) -> str:
    """The page's words without its tags, its runs of white space one space each."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def shown_day(moment: date) -> str:
    """A day as the English pages write it in Indonesia (Babel's medium date: "1 Sept 2026")."""
    return format_date(moment, "medium", locale="en_ID")


def shown_money(value: Decimal) -> str:
    """An amount as the pages write it (``Rp1.000,00``)."""
    from backoffice.web.plumbing.filters import money as shown

    return shown(value)


def error_of(response, field: str) -> str:
    """The error the form says under ``field``."""
    return re.search(rf'id="error-{field}">([^<]*)<', response.get_data(as_text=True)).group(1)


def csrf_token(client, url="/login") -> str:
    """The CSRF token of the form on the page at ``url``."""
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def tomorrow() -> str:
    """Tomorrow, as a form's date field holds it."""
    return (local_today() + timedelta(days=1)).isoformat()


class _Form(HTMLParser):
    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.select = action, False, None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("action", "") in ("", self.action)
        elif self.inside and tag == "input" and attrs.get("type") not in ("submit", "button") and "name" in attrs:
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif self.inside and tag == "select":
            self.select = attrs["name"]
        elif self.inside and tag == "option" and "selected" in attrs and self.select:
            self.fields[self.select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def opened(client, url: str, action: str = "") -> dict[str, str]:
    """What the browser of a clerk who opens ``url`` would send back from the form posting to ``action``."""
    response = client.get(url)
    assert response.status_code == 200
    parser = _Form(action)
    parser.feed(response.get_data(as_text=True))
    return parser.fields


def save_over(client, url: str, first: dict, second: dict, *, action: str = "", says: str) -> None:
    """Clerks A and B open ``url``; A saves with ``first`` changed, then B, from the form loaded before, with
    ``second``: B's save is refused, with a page that ``says`` what A changed and offers to reload."""
    action = action or url
    a, b = opened(client, url, action), opened(client, url, action)
    assert client.post(action, data=a | first).status_code == 302
    response = client.post(action, data=b | second)
    assert response.status_code == 409
    page = " ".join(response.get_data(as_text=True).split())
    assert f"{says}. Reload to see the current values; nothing was saved." in page
    assert f'href="{url}">Reload</a>' in page


def payment_form(client, code: str, serial: str, amount: str, day, reference: str = "") -> tuple[str, dict]:
    """The payment form of the customer's billing tab as a clerk sends it, paying no invoice: its address and
    fields."""
    url = f"/customers/{code}"
    shown = opened(client, url + "?tab=billing", url + "/payments")
    form = {name: value for name, value in shown.items() if name != "payment-invoice_ids"} | {
        "payment-meter_id": serial,
        "payment-amount": amount,
        "payment-paid_on": day.isoformat(),
        "payment-reference": reference,
    }
    return url + "/payments", form


def flashes(response) -> list[str]:
    """The messages a page shows at its top."""
    found = re.findall(r'<p class="flash flash-\w+" role="status">(.*?)</p>', response.get_data(as_text=True), re.S)
    return [" ".join(html.unescape(message).split()) for message in found]
