"""An email address as every form, command and import takes it: checked by ``email-validator``, its refusal said in
the reader's language (the library's own sentences are English)."""

from __future__ import annotations

from functools import lru_cache

from flask_babel import gettext as _


class NotAnAddress(ValueError):
    """``str()`` says why, in the reader's language."""


def email_address(text: str) -> str:
    """The address ``text`` holds, normalized (its domain in lower case); :class:`NotAnAddress` if it holds none."""
    # Imported here: its tables take a twentieth of a second, which every command and web process would pay.
    from email_validator import EmailNotValidError

    try:
        return _normalized(text)
    except EmailNotValidError:
        raise NotAnAddress(_("%(text)s is not an email address: %(why)s", text=repr(text), why=_why(text))) from None


@lru_cache(maxsize=4096)
def _normalized(text: str) -> str:
    """The address normalized, each text checked once (an import's column names a few account managers ten
    thousand times)."""
    from email_validator import validate_email

    return validate_email(text, check_deliverability=False).normalized


def _why(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at:
        return _("it has no @.")
    if "@" in local:
        return _("it has more than one @.")
    if not local:
        return _("nothing comes before the @.")
    if "." not in domain.strip(".") or any(not part for part in domain.split(".")):
        return _("what follows the @ is not a domain such as example.com.")
    return _("it holds a character an address cannot (a space, a comma, a quote or the like).")
