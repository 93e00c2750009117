"""A small FastAPI app that uvicorn serves with ``--workers 2`` in tests/zero_code/test_app_servers.py.

Each request is a botanu run with one outbound call (httpx's async client), so it gives a server
span (FastAPI instrumentation), a run span and a client span in one trace. The app records its
process id on its spans, so the test can tell uvicorn's workers apart.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from opentelemetry import trace

import botanu

DOWNSTREAM = os.environ["APP_DOWNSTREAM"]
SHUTDOWN_HOOK = os.environ.get("APP_SHUTDOWN_HOOK") == "1"


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    if SHUTDOWN_HOOK:
        # After its graceful shutdown uvicorn re-raises the SIGTERM it caught, with the default
        # handler back in place: the worker dies of the signal and atexit (botanu's exit flush)
        # never runs. Flushing here, once the last request has finished, delivers its spans.
        botanu.shutdown()


app = FastAPI(lifespan=lifespan)


@app.get("/work/{n}")
async def work(n: int) -> dict[str, int]:
    trace.get_current_span().set_attributes({"app.pid": os.getpid(), "app.request": n})
    async with botanu.event(event_id=f"order-{n}", customer_id="cus-1", workflow="Checkout"):
        # Block this worker's event loop a moment, so concurrent requests spread over both workers.
        time.sleep(0.1)
        async with httpx.AsyncClient() as client:
            (await client.get(f"{DOWNSTREAM}/pay/{n}", timeout=5)).raise_for_status()
    return {"pid": os.getpid(), "n": n}
