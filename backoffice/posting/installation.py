"""What the posting core is told of the installation it posts for: its time zone and its secret key. The core reads
no app: the services, the checks, the commands and the jobs build this from the app's settings, once per app
(``services.installation``), and pass it in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from backoffice.platform.clock import today_in
from backoffice.posting.refusals import DatedAfterToday


@dataclass(frozen=True)
class Installation:
    timezone: str
    """Where its days begin and end (``BACKOFFICE_TIMEZONE``): a movement's value date is never after its today."""
    secret_key: bytes
    """``SECRET_KEY``, under which the application's own idempotency keys are made (``posting.keys``)."""

    @classmethod
    def of(cls, settings: Mapping) -> Installation:
        """The installation an app's settings describe."""
        secret = settings["SECRET_KEY"]
        return cls(settings["TIMEZONE"], secret if isinstance(secret, bytes) else secret.encode())

    def today(self) -> date:
        return today_in(self.timezone)

    def value_date(self, given: date | None) -> date:
        """A movement's business date: today unless given; never after today (:class:`DatedAfterToday`)."""
        today = self.today()
        if given is None:
            return today
        if given > today:
            raise DatedAfterToday(today, self.timezone)
        return given
