"""FastAPI app for tests/integrations: uvicorn, in code (``python fastapi_app.py``) or under ``botanu run``.

``APP_IN_CODE=1`` calls ``botanu.init()``; ``APP_MIDDLEWARE=1`` adds botanu's middleware (under
``botanu run`` too, where contrib's FastAPI instrumentation also runs: one server span must remain).
Each handler answers with the trace and span id it sees as current, which is what a log record
emitted in the handler is tied to.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI
from opentelemetry import trace

if os.environ.get("APP_IN_CODE") == "1":
    import botanu

    botanu.init()

app = FastAPI()
if os.environ.get("APP_MIDDLEWARE") == "1":
    from botanu.integrations.fastapi import BotanuMiddleware

    # Each request a botanu run too: its ids from the caller's headers (Starlette's Request).
    app.add_middleware(
        BotanuMiddleware,
        workflow="UserLookup",
        event_id=lambda request: request.headers.get("x-order-id"),
        customer_id=lambda request: request.headers.get("x-customer-id"),
    )


def current_ids() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


@app.get("/users/{user_id}")
async def user(user_id: int) -> dict[str, object]:
    logging.getLogger("app").warning("handling user %s", user_id)
    return {"user_id": user_id, **current_ids()}


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("boom in handler")


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=0, log_level="info")
