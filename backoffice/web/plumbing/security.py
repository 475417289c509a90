"""What every response tells the browser, and which proxies' word the app takes for the client's address."""

from __future__ import annotations

from functools import cache

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
    proxies = app.config["PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)


def _add_headers(response):
    _headers().set_headers(response)
    return response


@cache
def _headers():
    """Made on the first response: the command line and the workers, which send none, never import ``secure``."""
    from secure import ContentSecurityPolicy, ReferrerPolicy, Secure, XContentTypeOptions, XFrameOptions

    # Scripts and styles come from static/ only (htmx is vendored there), so an injected inline
    # script does not run; no other site may frame a page (clickjacking).
    return Secure(
        csp=ContentSecurityPolicy()
        .default_src("'self'")
        .object_src("'none'")
        .base_uri("'self'")
        .form_action("'self'")
        .frame_ancestors("'none'"),
        xfo=XFrameOptions().deny(),
        xcto=XContentTypeOptions().nosniff(),
        referrer=ReferrerPolicy().same_origin(),
    )
