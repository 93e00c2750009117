"""A plain Starlette app (no FastAPI telemetry) with botanu.integrations.asgi.BotanuMiddleware, on uvicorn.

Here botanu's middleware makes the server span itself (contrib's ASGI middleware inside it), names
it by the matched route and answers an unhandled error's 500 with the headers.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import botanu
from botanu.integrations.asgi import BotanuMiddleware

botanu.init()


def current_ids() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


async def user(request: Request) -> JSONResponse:
    logging.getLogger("app").warning("handling user %s", request.path_params["user_id"])
    return JSONResponse({"user_id": request.path_params["user_id"], **current_ids()})


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("boom in handler")


app = Starlette(routes=[Route("/users/{user_id:int}", user), Route("/boom", boom)])
app.add_middleware(
    BotanuMiddleware,
    workflow="UserLookup",
    event_id=lambda request: request.headers.get("x-order-id"),
    customer_id=lambda request: request.headers.get("x-customer-id"),
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=0, log_level="info")
