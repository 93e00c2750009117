"""FastAPI (and Starlette): ``app.add_middleware(BotanuMiddleware)``.

::

    from fastapi import FastAPI
    from botanu.integrations.fastapi import BotanuMiddleware

    app = FastAPI()
    app.add_middleware(BotanuMiddleware)

The ASGI middleware of :mod:`botanu.integrations.asgi`: one server span per request named
``GET /users/{user_id}`` with ``http.route`` the template, the app's own 500 handler kept, and
``traceresponse`` / ``X-Trace-ID`` on every response, 500s included. Install ``botanu[fastapi]``.
Under ``botanu run`` contrib's FastAPI instrumentation makes the span and this middleware adds
nothing (the headers come from botanu's response propagator).
"""

from __future__ import annotations

from typing import Any

from botanu.integrations import _common
from botanu.integrations import asgi as _asgi

try:
    import fastapi as _fastapi  # noqa: F401  (only to say which extra is missing)
except ImportError as error:
    _FASTAPI_ERROR: ImportError | None = error
else:
    _FASTAPI_ERROR = None


class BotanuMiddleware(_asgi.BotanuMiddleware):
    """The ASGI middleware, for ``app.add_middleware(BotanuMiddleware)`` in FastAPI or Starlette."""

    _extra = "fastapi"

    def __init__(self, app: Any, **kwargs: Any) -> None:
        if _FASTAPI_ERROR is not None:
            # Starlette alone is enough for the middleware; without it there is no app to add it to.
            try:
                import starlette  # noqa: F401
            except ImportError:
                raise _common.missing_extra("fastapi", "fastapi", _FASTAPI_ERROR) from None
        super().__init__(app, **kwargs)


__all__ = ["BotanuMiddleware"]
