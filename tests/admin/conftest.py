"""The admin area's fixtures: the clerk whose requests the admins decide."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory


@pytest.fixture
def clerk(app):
    """A finance clerk (not logged in; the factories' password)."""
    return UserFactory(email="clerk@example.com", role="finance")
