"""gunicorn's settings for the service: `gunicorn -c deploy/gunicorn.conf.py` from the checkout.

Threaded workers (gthread), chosen by measurement (bench/slow_stripe.py, figures in
deploy/README.md): a donor's payment waits on Stripe for hundreds of milliseconds, and with
sync workers every such wait holds a whole process, so the banner every article page asks for
queued behind donors (p99 2.7 s with 8 donors and Stripe at 400 ms). With threads, a waiting
donor holds one thread and the others keep answering readers. gevent would do the same with
fewer megabytes but needs monkey-patching of psycopg and the Stripe client; threads need
nothing.

Environment: GUNICORN_BIND (default 127.0.0.1:8080, nginx's upstream in deploy/nginx/banner.conf),
WEB_CONCURRENCY (processes, default one per CPU), GUNICORN_THREADS (threads per process, default
12). The command line wins over this file (`--bind 0.0.0.0:$PORT` in the Procfile).
"""

import os

wsgi_app = "wsgi:app"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8080")]

worker_class = "gthread"
#: one process per CPU: the app's own work is CPU (the GIL lets one thread of a process run at a time)
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
#: Enough threads that donors waiting on Stripe (8 at once, all on one process in the worst case)
#: leave threads for readers, and no more than SQLAlchemy's pool holds connections (5 + 10
#: overflow): a thread never waits for a database connection.
threads = int(os.environ.get("GUNICORN_THREADS", "12"))
#: nginx keeps connections to the app open (upstream keepalive); close idle ones after this long
keepalive = 5
#: a request still running after this long is abandoned (gthread: the process is replaced)
timeout = 30
graceful_timeout = 30
#: replace a process after this many requests (with jitter, so they do not restart together)
max_requests = 20_000
max_requests_jitter = 2_000

#: nginx logs each request, and the app does with BANNER_LOG_FORMAT=json; gunicorn's errors to stderr
accesslog = None
errorlog = "-"
#: X-Forwarded-* are read by the app (BANNER_PROXIES=1, werkzeug's ProxyFix) from nginx on loopback
forwarded_allow_ips = "127.0.0.1,::1"
