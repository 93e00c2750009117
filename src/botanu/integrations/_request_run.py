"""Each request as a botanu run (optional): ``BotanuMiddleware(app, workflow=..., event_id=..., ...)``.

Each option is a string or a callable of the request (what the framework hands a middleware:
Starlette's ``Request`` for ASGI apps, the WSGI environ, Django's or Flask's request). The run
span (``botanu.run/<workflow>``) is a child of the server span, of kind INTERNAL: the request
keeps exactly one SERVER span. A response of 5xx makes the outcome ``failure`` (reason
``HTTP 500``); an exception does too (the run records it); anything else is ``success``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.trace import SpanKind

from botanu import _safety

Option = str | Callable[[Any], Any] | None


def _value(option: Option, request: Any, name: str) -> Any:
    if not callable(option):
        return option
    try:
        return option(request)
    except Exception:  # the app's callable failed: the run goes without this value
        _safety.warn_once(
            ("request run option", name),
            "botanu: the %s callable given to the web integration raised; the request's run records no %s",
            name,
            name,
        )
        return None


class RequestRun:
    """How to open a run for each request; ``None`` from :meth:`create` when no workflow is given."""

    def __init__(self, workflow: Option, event_id: Option, customer_id: Option) -> None:
        self.workflow = workflow
        self.event_id = event_id
        self.customer_id = customer_id

    @classmethod
    def create(cls, workflow: Option, event_id: Option, customer_id: Option) -> RequestRun | None:
        if workflow is None:
            if event_id is not None or customer_id is not None:
                _safety.misuse("event_id / customer_id given to a web integration without workflow: no runs")
            return None
        return cls(workflow, event_id, customer_id)

    def open(self, request: Any) -> Any:
        """A fresh ``botanu.event`` for this request (enter it around the app), or None."""
        try:
            from botanu.context._run import event

            workflow = _value(self.workflow, request, "workflow")
            return event(
                workflow=workflow if isinstance(workflow, str) and workflow.strip() else "http_request",
                event_id=_value(self.event_id, request, "event_id"),
                customer_id=_value(self.customer_id, request, "customer_id"),
                span_kind=SpanKind.INTERNAL,
            )
        except _safety.BotanuUsageError:
            raise
        except Exception:
            _safety.report_internal("opening a request's run")
            return None


def outcome_from_status(status: int) -> None:
    """Inside the run: a 5xx answer is a failed run (the last outcome set wins)."""
    if status < 500:
        return
    try:
        from botanu.context._run import outcome

        outcome("failure", reason=f"HTTP {status}")
    except _safety.BotanuUsageError:
        raise
    except Exception:
        _safety.report_internal("setting a request's outcome")
