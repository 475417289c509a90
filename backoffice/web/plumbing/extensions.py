"""The web layer's Flask extension objects, unbound; ``backoffice.register_web`` binds them."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
# The storage is each app's (RATELIMIT_STORAGE_URI, set by backoffice.web.plumbing.auth); the limits are the views'.
limiter = Limiter(
    get_remote_address,
    strategy="moving-window",
    headers_enabled=True,
    # A rate-limit store that is down must not lock everyone out: the limits are skipped and the error logged.
    swallow_errors=True,
    storage_options={"socket_connect_timeout": 2, "socket_timeout": 2},
)
