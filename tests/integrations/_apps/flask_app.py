"""Flask app for tests/integrations: dev server or gunicorn, in code or under ``botanu run``.

``APP_IN_CODE=1`` calls ``botanu.init()``; ``APP_MIDDLEWARE=1`` calls ``init_botanu(app)`` (under
``botanu run`` too, where contrib's Flask instrumentation already instruments the app).
"""

from __future__ import annotations

import logging
import os

from flask import Flask, jsonify
from opentelemetry import trace

if os.environ.get("APP_IN_CODE") == "1":
    import botanu

    botanu.init()

app = Flask(__name__)
if os.environ.get("APP_MIDDLEWARE") == "1":
    from botanu.integrations.flask import init_botanu

    init_botanu(
        app,
        workflow="UserLookup",
        event_id=lambda request: request.headers.get("X-Order-Id"),
        customer_id=lambda request: request.headers.get("X-Customer-Id"),
    )


def current_ids() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


@app.get("/users/<int:user_id>")
def user(user_id: int):  # type: ignore[no-untyped-def]
    logging.getLogger("app").warning("handling user %s", user_id)
    return jsonify(user_id=user_id, **current_ids())


@app.get("/boom")
def boom():  # type: ignore[no-untyped-def]
    raise RuntimeError("boom in handler")


if __name__ == "__main__":
    # Flask's development server (what app.run() serves with), on a free port it reports itself.
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"READY {server.port}", flush=True)
    server.serve_forever()
