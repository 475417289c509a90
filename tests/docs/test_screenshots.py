"""The pictures in docs/images/ and what makes them (``make screenshots``, docs/screenshots.py) keep in step."""

from __future__ import annotations

import struct

import pytest

from docs import screenshots
from tests.factories import CustomerFactory, UserFactory


def png_size(path) -> tuple[int, int]:
    """A PNG's width and height, from its header."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_every_picture_in_docs_images_is_one_the_script_makes():
    assert {path.stem for path in screenshots.IMAGES.glob("*.png")} == set(screenshots.SCREENS)


@pytest.mark.browser
def test_the_order_form_is_pictured_with_its_live_grand_total(browser, live_server, tmp_path):
    """One picture taken as ``make screenshots`` takes it, over the few records its screen needs: logged in with
    the demo's clerk, it types an order's amounts and waits for the grand total they make."""
    UserFactory(email=screenshots.CLERK[0], password=screenshots.CLERK[1], role="finance")
    CustomerFactory(code=screenshots.CUSTOMER[0], name=screenshots.CUSTOMER[1])

    path = screenshots.shoot(browser, live_server, "order-form", tmp_path)

    assert path == tmp_path / "order-form.png"
    assert png_size(path) == (1366, 768)
