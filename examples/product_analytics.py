"""Product analytics with botanu: ``track()`` / ``identify()`` as spans, grouped by session.

Maps the Serla seed (track / identify, a client that flushes for scripts and
serverless handlers) and the Lupis seed (chat / session / user grouping) onto
botanu: each call is a span in the current trace, redacted and exported like
every other span; ``botanu.session(...)`` stamps the user, session, chat and
organization on every span inside it.

Run it with ``python examples/product_analytics.py``. No collector is needed:
the trace trees are printed on stderr (if nothing listens at the OTLP endpoint,
botanu warns once and the script still ends within a few seconds).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import botanu
from botanu.analytics import Analytics, identify, session, track

# Module level, reused across invocations, as a serverless handler would keep it.
# flush_timeout bounds how long a handler waits for delivery when the collector is slow or down.
analytics = Analytics(properties={"app_version": "2.3.0", "platform": "web"}, flush_timeout=2)


def signup(user_id: str, plan: str) -> None:
    """A signup request: the analytics events share the request's trace and run."""
    with botanu.event(event_id=f"signup-{user_id}", customer_id=user_id, workflow="Signup"):
        identify(user_id, properties={"plan": plan, "signed_up_at": "2025-01-01T00:00:00Z"})
        with botanu.step("provision"):
            pass  # create the account ...
        analytics.track("signup_completed", user_id, properties={"plan": plan, "source": "organic"})


def chat_turns(user_id: str) -> None:
    """An assistant conversation: every span inside knows the user, session and chat."""
    with session(user_id=user_id, session_id="browser_session_abc123", organization_id="org_789"):
        for chat_id, question in (("chat_1", "How do I export?"), ("chat_2", "Change my plan")):
            with (
                session(chat_id=chat_id),
                botanu.event(event_id=chat_id, customer_id="org_789", workflow="Chat"),
            ):
                # distinct_id None: the session's user_id is used.
                track("question_asked", None, properties={"length": len(question)})


def backfill(records: list[dict[str, Any]]) -> None:
    """A batch import: events keep the time they really happened (ISO strings or datetimes)."""
    for record in records:
        analytics.track(
            "record_processed", record["user_id"], {"size": record["size"]}, timestamp=record["at"]
        )


def handler(event: dict[str, Any], _context: object = None) -> dict[str, int]:
    """A serverless handler: ``with analytics`` flushes before returning (a frozen process sends nothing)."""
    with analytics:
        analytics.track("lambda_invoked", event["user_id"], properties={"region": "us-east-1"})
    return {"statusCode": 200}


def main() -> None:
    botanu.init(service_name="product-analytics", environment="demo", console=True)
    signup("user_123", "pro")
    chat_turns("user_123")
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    backfill(
        [
            {"user_id": "user_7", "size": 120, "at": an_hour_ago},
            {"user_id": "user_8", "size": 64, "at": an_hour_ago.isoformat().replace("+00:00", "Z")},
        ]
    )
    print(handler({"user_id": "user_123"}))
    delivered = botanu.shutdown(timeout=3)
    stats = botanu.stats()
    print(
        f"spans delivered to the collector: {'yes' if delivered else 'no (is a collector running?)'}; "
        f"kept in the spool: {stats['spool_pending']}, dropped: {stats['dropped_total']}"
    )


if __name__ == "__main__":
    main()
