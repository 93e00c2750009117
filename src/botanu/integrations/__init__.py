"""Web framework integrations: one server span per request, and the trace id back to the caller.

Each module is importable without its framework and raises an ``ImportError`` naming the
extra to install only when it is used without it:

* ``botanu.integrations.asgi.BotanuMiddleware`` — any ASGI app (Starlette, FastAPI, Quart ...);
* ``botanu.integrations.fastapi.BotanuMiddleware`` — ``app.add_middleware(BotanuMiddleware)``;
* ``botanu.integrations.wsgi.BotanuMiddleware`` — any WSGI app;
* ``botanu.integrations.flask.init_botanu(app)``;
* ``"botanu.integrations.django.BotanuMiddleware"`` in Django's ``MIDDLEWARE``.

Under ``botanu run`` / ``opentelemetry-instrument`` the contrib instrumentations already give
the server span, and botanu's response propagator (installed by its configurator and by
``botanu.init()``) adds the headers with no code at all. The middlewares detect a server span
that is already active for the request and then add nothing but missing headers: never two
server spans for one request.
"""

from __future__ import annotations

from botanu.integrations._headers import (
    INBOUND_TRACE_ID_ATTRIBUTE,
    BotanuResponsePropagator,
    install_response_propagator,
)

__all__ = ["INBOUND_TRACE_ID_ATTRIBUTE", "BotanuResponsePropagator", "install_response_propagator"]
