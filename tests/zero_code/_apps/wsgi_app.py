"""A small Flask app that gunicorn serves in tests/zero_code/test_app_servers.py.

Each request is a botanu run with one outbound HTTP call, so it gives a server span (Flask
instrumentation), a run span and a client span (requests instrumentation) in one trace. The
app records its process id on its spans, so the test can tell gunicorn's workers apart.
"""

from __future__ import annotations

import os
import time

import requests
from flask import Flask
from opentelemetry import trace

import botanu

# Without `botanu run`, the docs' recipe: botanu.init() where the app module is imported.
IN_CODE = os.environ.get("APP_INIT_IN_CODE") == "1"
if IN_CODE:
    botanu.init()

DOWNSTREAM = os.environ["APP_DOWNSTREAM"]

# A span ended while the module is imported: with --preload that happens in gunicorn's master,
# so the span sits in the master's queue when the workers are forked from it.
with trace.get_tracer("tests.app").start_as_current_span("app.boot") as boot:
    boot.set_attribute("app.pid", os.getpid())

app = Flask(__name__)
if IN_CODE:  # `botanu run` instruments Flask by itself; in code, the app does it
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor().instrument_app(app)


@app.route("/work/<int:n>")
def work(n: int) -> dict[str, int]:
    trace.get_current_span().set_attributes({"app.pid": os.getpid(), "app.request": n})
    with botanu.event(event_id=f"order-{n}", customer_id="cus-1", workflow="Checkout"):
        # Hold this sync worker a moment, so concurrent requests spread over both workers.
        time.sleep(0.1)
        requests.get(f"{DOWNSTREAM}/pay/{n}", timeout=5).raise_for_status()
    return {"pid": os.getpid(), "n": n}
