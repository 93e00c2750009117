"""A one-file Django project for tests/integrations: settings, URLs and views.

``DJANGO_SETTINGS_MODULE=django_app``.

``APP_MIDDLEWARE=1`` puts a subclass of ``botanu.integrations.django.BotanuMiddleware`` in ``MIDDLEWARE``
(under ``botanu run`` too, where contrib's Django instrumentation inserts its own middleware).
"""

from __future__ import annotations

import logging
import os

from django.http import JsonResponse
from django.urls import path
from opentelemetry import trace

from botanu.integrations.django import BotanuMiddleware

DEBUG = False
SECRET_KEY = "tests-only-not-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__
USE_TZ = True
WITH_MIDDLEWARE = os.environ.get("APP_MIDDLEWARE") == "1"
MIDDLEWARE = ["django_app.UserLookupMiddleware"] if WITH_MIDDLEWARE else []
LOGGING_CONFIG = None


class UserLookupMiddleware(BotanuMiddleware):
    """botanu's middleware with each request a run (the README's subclassing recipe)."""

    workflow = "UserLookup"
    event_id = staticmethod(lambda request: request.headers.get("X-Order-Id"))
    customer_id = staticmethod(lambda request: request.headers.get("X-Customer-Id"))


def current_ids() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def user(request, user_id: int):  # type: ignore[no-untyped-def]
    logging.getLogger("app").warning("handling user %s", user_id)
    return JsonResponse({"user_id": user_id, **current_ids()})


def boom(request):  # type: ignore[no-untyped-def]
    raise RuntimeError("boom in handler")


urlpatterns = [path("users/<int:user_id>", user), path("boom", boom)]
