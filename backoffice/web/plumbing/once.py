"""A form that writes money writes once, however often it is sent: from a second tab, a slow line's retry, or the
back button after saving.

Each such form carries a key drawn when it was shown (:func:`sent_once`). Its view (:func:`posts_once`) claims the key
in the transaction that writes what the form asked, so a second sending finds it claimed, writes nothing and is led
where the first led. A sending that wrote nothing (refused, or a field to correct) leaves the key unclaimed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Flask, flash, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from backoffice.models import SentKey
from backoffice.models.types import upsert, utcnow
from backoffice.platform.extensions import db

FIELD = "submission"
KEY = re.compile(r"[0-9A-Za-z_-]{8,64}")


def init_app(app: Flask) -> None:
    app.add_template_global(sent_once)


def sent_once(name: str = "") -> Markup:
    """The hidden key of the form ``name`` (its fields' prefix): the key it was sent with when it is shown again
    with errors, a new one otherwise."""
    field = f"{name}-{FIELD}" if name else FIELD
    sent = request.form.get(field, "") if request.method == "POST" else ""
    key = sent if KEY.fullmatch(sent) else uuid.uuid4().hex
    return Markup('<input type="hidden" name="{}" value="{}">').format(field, key)


def posts_once(view: Callable) -> Callable:
    """The view writes what its form asked once per key (:mod:`backoffice.web.plumbing.once`)."""

    @wraps(view)
    def once(*args, **kwargs):
        key = _sent_key()
        if key is None:
            return view(*args, **kwargs)
        if (earlier := _claimed(key)) is not None:
            return _sent_again(earlier)
        session = db.session()
        claims = []

        def claim(committing: Session) -> None:
            if not claims:
                _claim(committing, key)

        def claimed(_committed: Session) -> None:
            # The first commit claims the key with what the form asked; what the view commits after it (a job's row,
            # a job run here and now) is its consequence, not a second sending.
            claims.append(True)

        event.listen(session, "before_commit", claim)
        event.listen(session, "after_commit", claimed)
        try:
            response = make_response(view(*args, **kwargs))
        except SentAlready:
            db.session.rollback()
            return _sent_again(_claimed(key))
        finally:
            event.remove(session, "before_commit", claim)
            event.remove(session, "after_commit", claimed)
        if not claims:
            # Refused for what the other sending wrote meanwhile (a payment's reference, recorded once): sent twice.
            db.session.rollback()
            if (earlier := _claimed(key)) is not None:
                return _sent_again(earlier)
        _settle(key, response)
        return response

    once.posts_once = True
    return once


class SentAlready(Exception):
    """The same form's other sending claimed its key first, while this one was writing: this one writes nothing."""


def _sent_key() -> str | None:
    for name, value in request.form.items():
        if (name == FIELD or name.endswith(f"-{FIELD}")) and KEY.fullmatch(value):
            return value
    return None


def _claimed(key: str) -> SentKey | None:
    return db.session.scalars(select(SentKey).where(SentKey.key == key)).first()


def _claim(session: Session, key: str) -> None:
    """The key claimed in the transaction about to commit what the view wrote: :class:`SentAlready` when another
    sending claimed it first (waiting for that sending's transaction, if it is still committing)."""
    table = SentKey.__table__
    user_id = current_user.id if current_user.is_authenticated else None
    claimed = session.execute(
        upsert(table)
        .values(key=key, maker_id=user_id, door=request.endpoint or "", sent_at=utcnow())
        .on_conflict_do_nothing(index_elements=[table.c.key])
        .returning(table.c.key)
    ).first()
    if claimed is None:
        raise SentAlready(key)


def _sent_again(earlier: SentKey | None) -> object:
    """The form's key was claimed: by the same user's earlier sending, which is said again; or by another user's, and
    this sending saved nothing (a key is drawn for one form shown to one user: copied, it is not theirs to repeat)."""
    user_id = current_user.id if current_user.is_authenticated else None
    mine = earlier is not None and earlier.maker_id == user_id
    url, said = (earlier.url, earlier.said) if mine else (None, None)
    db.session.rollback()
    if earlier is not None and not mine:
        flash(
            _("This form was sent already by another user: what you asked was not saved. Fill in the form again."),
            "error",
        )
        return redirect(_here(request.referrer) or url_for("home.index"))
    if said:
        flash(said, "success")
    flash(_("This form had been sent already: what it asked was saved once, and nothing was saved again."), "info")
    return redirect(_here(url) or _here(request.referrer) or url_for("home.index"))


def _settle(key: str, response) -> None:
    """After the view: what it did not commit is let go (as the end of the request would), and the key stays claimed
    only if the view committed it with what it wrote, noted with where it led and what it said."""
    db.session.rollback()
    table = SentKey.__table__
    if db.session.scalar(select(table.c.key).where(table.c.key == key)) is None:
        return
    if response.status_code >= 400:
        db.session.execute(delete(table).where(table.c.key == key, table.c.url.is_(None)))
    else:
        said = next(
            (message for category, message in reversed(session.get("_flashes", [])) if category != "error"), None
        )
        url = _here(response.headers.get("HX-Redirect") or response.location or request.referrer)
        db.session.execute(update(table).where(table.c.key == key).values(url=url, said=said))
    db.session.commit()


def _here(url: str | None) -> str | None:
    """``url`` as a path of this site, or ``None`` for an address elsewhere (a sending is led back only here,
    whatever its ``Referer`` or its stored row said)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", request.host):
        return None
    path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else None
    return None if path is None else (path + (f"?{parts.query}" if parts.query else ""))[:2000]
