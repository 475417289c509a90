"""gunicorn's settings for the back-office's web server: ``make serve``, or ``gunicorn -c gunicorn.conf.py``.

The settings come from the environment, read and checked here, every one, as the app reads them (see
``backoffice.platform.config.Settings``): ``BACKOFFICE_WEB_BIND`` (127.0.0.1:8000), ``BACKOFFICE_WEB_WORKERS``
(processes; 2 × cores + 1), ``BACKOFFICE_WEB_THREADS`` (requests a process serves at once; 4),
``BACKOFFICE_WEB_TIMEOUT`` (seconds; 120), and the log settings. Each worker reads them again when it creates the app.

Threaded workers (gthread): a process whose request takes long (a million journal lines streamed as CSV take
about 25 seconds to write, then as long as the client takes to read them) still answers its other requests and
tells the master it is alive; the timeout only replaces a worker that stopped doing so. A graceful reload
(``kill -HUP``, ``systemctl reload``) starts new workers on the new code and gives the old ones as long to finish
what they are sending.
"""

import shutil
import sys
import tempfile

# Private names: gunicorn takes the names of this module that match its settings for them, and "config" is one.
from backoffice.platform import config as _config
from backoffice.platform import logs as _logs

try:
    _settings = _config.read()
except _config.ConfigError as error:
    sys.exit(f"gunicorn.conf.py: {error}")

wsgi_app = "backoffice:create_app()"
bind = [_settings.web_bind]
workers = _settings.web_workers
threads = _settings.web_threads
worker_class = "gthread"
timeout = _settings.web_timeout
graceful_timeout = _settings.web_timeout
keepalive = 5
proc_name = "backoffice-web"
# Managed by signals (HUP, TERM) and systemd; no gunicornc socket in the home directory for two servers to share.
control_socket_disable = True

# gunicorn's error and access lines go through the app's log handler, in its format (BACKOFFICE_LOG_FORMAT); the
# access line names the request id that the app's own line for the request, and its errors, carry.
loglevel = _settings.log_level.lower()
logconfig_dict = _logs.gunicorn_config(_settings.log_level, _settings.log_format)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s bytes %(M)s ms "%(a)s" request_id=%({x-request-id}o)s'


def on_starting(server):
    """A fresh directory, for this start of the server, where every worker writes its request latencies for
    ``/metrics`` to add up (prometheus_client's multiprocess mode). The workers inherit it; a reload keeps it."""
    _config.share_metrics_directory(tempfile.mkdtemp(prefix="backoffice-metrics-"))


def child_exit(server, worker):
    # Not at the top: imported, prometheus_client fixes its mode from PROMETHEUS_MULTIPROC_DIR, set by on_starting.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    # Read again: this file read the settings before on_starting made the directory.
    shutil.rmtree(_config.read().prometheus_multiproc_dir, ignore_errors=True)
