"""gunicorn's settings for the back-office's web server: ``make serve``, or ``gunicorn -c gunicorn.conf.py``.

The settings come from the environment (see ``backoffice.platform.config.web_server``): ``BACKOFFICE_WEB_BIND``
(127.0.0.1:8000), ``BACKOFFICE_WEB_WORKERS`` (processes; 2 × cores + 1), ``BACKOFFICE_WEB_THREADS`` (requests a
process serves at once; 4), ``BACKOFFICE_WEB_TIMEOUT`` (seconds; 120). The app's own settings (``DATABASE_URL``,
``REDIS_URL``, ``SECRET_KEY``, ``BACKOFFICE_*``) are read by each worker when it creates the app.

Threaded workers (gthread): a process whose request takes long (a million journal lines streamed as CSV take
about 25 seconds to write, then as long as the client takes to read them) still answers its other requests and
tells the master it is alive; the timeout only replaces a worker that stopped doing so. A graceful reload
(``kill -HUP``, ``systemctl reload``) starts new workers on the new code and gives the old ones as long to finish
what they are sending.
"""

import os
import shutil
import sys
import tempfile

# Private names: gunicorn takes the names of this module that match its settings for them, and "config" is one.
from backoffice.platform import config as _config
from backoffice.platform import logs as _logs

try:
    _server = _config.web_server(os.environ)
    _log_level, _log_format = _config.log_level(os.environ), _config.log_format(os.environ)
except _config.ConfigError as error:
    sys.exit(f"gunicorn.conf.py: {error}")

wsgi_app = "backoffice:create_app()"
bind = [_server["bind"]]
workers = _server["workers"]
threads = _server["threads"]
worker_class = "gthread"
timeout = _server["timeout"]
graceful_timeout = _server["timeout"]
keepalive = 5
proc_name = "backoffice-web"
# Managed by signals (HUP, TERM) and systemd; no gunicornc socket in the home directory for two servers to share.
control_socket_disable = True

# gunicorn's error and access lines go through the app's log handler, in its format (BACKOFFICE_LOG_FORMAT); the
# access line names the request id that the app's own line for the request, and its errors, carry.
loglevel = _log_level.lower()
logconfig_dict = _logs.gunicorn_config(_log_level, _log_format)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s bytes %(M)s ms "%(a)s" request_id=%({x-request-id}o)s'


def on_starting(server):
    """A fresh directory, for this start of the server, where every worker writes its request latencies for
    ``/metrics`` to add up (prometheus_client's multiprocess mode). The workers inherit it; a reload keeps it."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="backoffice-metrics-")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
