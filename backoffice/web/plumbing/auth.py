"""Logging in and out, and the access rules every view is held to.

Every view requires a logged-in user unless it is marked :func:`public`; one marked :func:`requires_role` also requires
that role (both marks are attributes of the view, which tests read from the URL map). Failed logins are throttled per
account and per client address. A new session token (on logout, or a change of password, role or active flag) ends
all of a user's sessions.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from wtforms import EmailField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo

from backoffice.models import Role, User
from backoffice.models.users import MIN_PASSWORD_LENGTH, normal_email
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGE_NAMES
from backoffice.services.users import UserError, authenticate, change_own_password, choose_language, end_sessions
from backoffice.web.plumbing.extensions import limiter, login_manager
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.request_log import identify

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.session_protection = "strong"
    app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"
    limiter.init_app(app)
    app.before_request(_require_login)


def public(view):
    view.public = True
    return view


def requires_role(role: Role):
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        guarded.required_role = role
        return guarded

    return decorate


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(_l("Enter your current password."))]
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password."))],
        description=_l("At least %(count)s characters.", count=MIN_PASSWORD_LENGTH),
    )
    repeated = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Type the new password again.")),
            EqualTo("new_password", _l("The two do not match.")),
        ],
    )


class LanguageForm(FlaskForm):
    language = SelectField(
        _l("Language of your pages"),
        choices=[SelectChoice("", _l("Your browser's language"))]
        + [SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()],
        description=_l(
            "Dates and numbers are written the language's way; amounts stay in the installation's currency."
        ),
    )


def _submitted_email() -> str:
    return normal_email(request.form.get("email") or "")


def _login_refused(response) -> bool:
    """Only a refused login (422) uses up the budget."""
    return response.status_code == 422


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=lambda: f"account:{_submitted_email()}",
    methods=["POST"],
    deduct_when=_login_refused,
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
    key_func=lambda: f"address:{get_remote_address()}",
    methods=["POST"],
    deduct_when=_login_refused,
)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            identify(user.email)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(_("Wrong email or password."))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 422


@bp.errorhandler(RateLimitExceeded)
def _too_many_failed_logins(error: RateLimitExceeded):
    log.warning(
        "Login refused for %r from %s: more than %s failed logins (%s)",
        _submitted_email(),
        get_remote_address(),
        error.limit.limit,
        error.limit.key_func().partition(":")[0],
    )
    seconds = max(1, math.ceil(limiter.current_limit.reset_at - time.time()))
    message = _("Too many failed logins. Try again in %(seconds)s seconds.", seconds=seconds)
    return render_template("auth/login.html", form=LoginForm(), refusal=message), 429


@bp.post("/logout")
def logout():
    end_sessions(current_user._get_current_object())
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    """A user changes their own password, giving their current one; their other sessions end."""
    form = PasswordForm()
    language_form = LanguageForm(formdata=None, language=current_user.language or "")
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            change_own_password(user, form.current_password.data, form.new_password.data)
        except UserError as error:
            form[error.field].errors.append(str(error))
        else:
            login_user(user)  # the user's sessions ended with the change, except this one
            flash(_("Your password is changed; your sessions elsewhere have ended."), "success")
            return redirect(url_for("home.index"))
    return render_template("auth/password.html", form=form, language_form=language_form), 422 if form.errors else 200


@bp.post("/account/language")
def language():
    """A user chooses the language of their pages (none: their browser's), remembered on their row."""
    form = LanguageForm()
    if form.validate_on_submit():
        choose_language(current_user._get_current_object(), form.language.data or None)
        refresh()  # the message below, and every page after it, in the language just chosen
        flash(_("Your pages are now in this language."), "success")
        return redirect(url_for("auth.password"))
    page = render_template("auth/password.html", form=PasswordForm(formdata=None), language_form=form)
    return page, 422


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    user_id, _, token = session_id.partition(":")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() and token else None
    if user is None or not secrets.compare_digest(user.session_token.encode(), token.encode()):
        return None
    identify(user.email)
    return user


def _require_login():
    if request.endpoint == "static" or current_user.is_authenticated:
        return None
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "public", False):
        return None
    return login_manager.unauthorized()


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("home.index")
