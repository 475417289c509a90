"""Logging in and out, and the access rules every view is held to.

Every view requires a logged-in user unless it is marked :func:`public`; a view marked
with :func:`requires_role` also requires that role. Both marks are attributes on the view
function, so tests can read them from the URL map.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from backoffice.extensions import db, login_manager
from backoffice.models import Role, User

bp = Blueprint("auth", __name__)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.session_protection = "strong"
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
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.email == form.email.data.strip().lower()))
        if user is not None and user.is_active and user.check_password(form.password.data):
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("Wrong email or password.")
    return render_template("auth/login.html", form=form), 200 if not form.errors else 422


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


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
