"""A plain WSGI app wrapped in ``botanu.integrations.wsgi.BotanuMiddleware``, served by wsgiref (in code)."""

from __future__ import annotations

import json
import logging
import os

from opentelemetry import trace

import botanu
from botanu.integrations.wsgi import BotanuMiddleware

botanu.init()


def app(environ, start_response):  # type: ignore[no-untyped-def]
    path = environ.get("PATH_INFO", "")
    if path.startswith("/users/"):
        logging.getLogger("app").warning("handling user %s", path.rsplit("/", 1)[-1])
        context = trace.get_current_span().get_span_context()
        ids = {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
        body = json.dumps(ids)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]
    if path == "/boom":
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"failed"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


application = BotanuMiddleware(
    app,
    workflow="UserLookup",
    event_id=lambda environ: environ.get("HTTP_X_ORDER_ID"),
    customer_id=lambda environ: environ.get("HTTP_X_CUSTOMER_ID"),
)

if __name__ == "__main__":
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    port = int(os.environ.get("APP_PORT", "0"))
    server = make_server("127.0.0.1", port, application, handler_class=QuietHandler)
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()
