"""What every response tells the browser, and which proxies' word the app takes for the client's address."""

from __future__ import annotations

from flask import Flask
from secure import ContentSecurityPolicy, ReferrerPolicy, Secure, XContentTypeOptions, XFrameOptions
from werkzeug.middleware.proxy_fix import ProxyFix

# Scripts and styles come from static/ only (htmx is vendored there), so an injected inline
# script does not run; no other site may frame a page (clickjacking).
HEADERS = Secure(
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


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
    proxies = app.config["PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)


def _add_headers(response):
    HEADERS.set_headers(response)
    return response
