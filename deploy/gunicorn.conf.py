"""gunicorn's settings for the service: `gunicorn -c deploy/gunicorn.conf.py` from the checkout.

gevent workers, chosen by measurement (bench/run.py and bench/slow_stripe.py, figures in
deploy/README.md). A donor's payment waits on Stripe for hundreds of milliseconds; with sync
workers every such wait holds a whole process, so the banner every article page asks for queued
behind donors (p99 2.7 s with 8 donors and Stripe at 400 ms). With gevent a waiting donor holds
one greenlet and the process goes on answering readers; and a request costs less CPU than with
threads, which hand every request from the accepting thread to a pool thread and back (the GIL's
handover on each: about 0.8 ms of CPU per banner request against 0.55 ms with gevent).

Each process serves HTTP with gevent's own WSGI server (gevent.pywsgi, gunicorn's gevent_pywsgi
worker), which costs less CPU a request than gunicorn's gevent worker: bench/run.py gave 4,340 to
4,364 banner requests a second against 3,156 to 3,612 on the same machine, and a lower p99
(FairPyWSGIWorker below).

gevent needs the code's waits to cooperate: gunicorn's gevent workers monkey-patch the standard
library (sockets, ssl, select, threading, time.sleep) before it loads the app, so the Stripe
client, SMTP, Redis and boto3 cooperate; psycopg 3 sees the patching and waits through gevent
too. tests/test_deploy.py checks that a slow database query does not hold the banner.

Environment: GUNICORN_BIND (default 127.0.0.1:8080, nginx's upstream in deploy/nginx/banner.conf),
WEB_CONCURRENCY (processes, default one per CPU), GUNICORN_CONNECTIONS (requests in progress per
process, default 100), GUNICORN_KEEPALIVE (seconds a kept-alive connection may stay idle, default
5). The command line wins over this file (`--bind 0.0.0.0:$PORT` in the
Procfile).
"""

import os

import gevent
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

wsgi_app = "wsgi:app"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8080")]


class FairHandler(PyWSGIHandler):
    """gevent.pywsgi's handler of one connection, taking turns with the process's others, and
    closing a kept-alive connection left idle.

    A greenlet gives way only when it would wait. When a client sends its next request before
    the answer to the last one is through (keep-alive under load), the greenlet finds it
    already there and serves it straight away, again and again, while other connections wait:
    bench/run.py saw a p99 near 0.5 s and the slowest answers over 2 s. Giving way after each
    request serves the connections in turn (p99 18 to 72 ms at the same load)."""

    def handle_one_request(self):
        result = super().handle_one_request()
        if result is True:  # kept alive: the others' turn before this connection's next request
            gevent.sleep(0)
        return result

    def read_requestline(self):
        self.socket.settimeout(keepalive)  # idle this long: the connection is closed
        try:
            return super().read_requestline()
        finally:
            self.socket.settimeout(None)


class FairPyWSGIWorker(GeventPyWSGIWorker):
    """gunicorn's gevent_pywsgi worker with FairHandler."""

    wsgi_handler = FairHandler


worker_class = FairPyWSGIWorker
#: one process per CPU: the app's own work is CPU, and one process runs one greenlet at a time
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
#: requests a process has in progress at once (most of them waiting: on Stripe, on the database).
#: SQLAlchemy's pool holds 5 + 10 connections per process; a request beyond that waits for one
#: (without holding the process), and the banner's answers need none.
worker_connections = int(os.environ.get("GUNICORN_CONNECTIONS", "100"))
#: nginx keeps connections to the app open (upstream keepalive); close idle ones after this long
#: (FairHandler: gevent.pywsgi has no such limit of its own)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
#: a process that has not checked in for this long (a request hogging it) is replaced
timeout = 30
graceful_timeout = 30
#: processes are not replaced after a number of requests (gunicorn's max_requests): the
#: processes of an even load reach it within seconds of each other, and while the new ones start
#: (imports, the banner script) nothing answers: bench/run.py saw all 50 connections wait over 2 s.
#: Memory stays flat (108 MB a process after bench/run.py's 150,000 requests); a deploy replaces
#: them with `systemctl reload banner`.
max_requests = 0

#: nginx logs each request, and the app does with BANNER_LOG_FORMAT=json; gunicorn's errors to stderr
accesslog = None
errorlog = "-"
#: X-Forwarded-* are read by the app (BANNER_PROXIES=1, werkzeug's ProxyFix) from nginx on loopback
forwarded_allow_ips = "127.0.0.1,::1"


def post_worker_init(worker):
    """Build the banner script before this process takes its first request: minifying it takes
    a second or more of CPU, which would hold every request the new process had accepted (at
    each start of a process: a deploy's reload, a crash)."""
    from banner.assets import embed_script

    with worker.wsgi.app_context():
        embed_script()
