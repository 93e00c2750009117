"""botanu.session(): chat / session / user / organization ids stamped on every span inside a block."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from opentelemetry import baggage, trace

import botanu
from botanu.analytics import current_session, session, track

IDS = {
    "botanu.session_id": "browser_session_abc",
    "botanu.chat_id": "chat_1",
    "botanu.user_id": "user_123",
    "botanu.organization_id": "org_789",
}


def spans_by_name(receiver):
    assert botanu.force_flush(5)
    return {span.name: span for span in receiver.spans()}


def ids_of(span) -> dict:
    return {key: span.attributes[key] for key in IDS if key in span.attributes}


def test_every_span_inside_carries_the_ids(botanu_init, otlp_receiver):
    # botanu.session_id is a grouping label: redaction exempts it by name (values are still scanned).
    botanu_init()
    user_tracer = trace.get_tracer("my.app")
    with session(
        session_id="browser_session_abc", chat_id="chat_1", user_id="user_123", organization_id="org_789"
    ):
        with botanu.event(event_id="e", customer_id="org_789", workflow="Chat"), botanu.step("answer"):
            with user_tracer.start_as_current_span("user.work"):
                pass
            track("question_asked", None)  # distinct_id from the session's user_id
    with user_tracer.start_as_current_span("outside"):
        pass
    spans = spans_by_name(otlp_receiver)
    for name in ("botanu.run/Chat", "botanu.step/answer", "user.work", "botanu.track/question_asked"):
        assert ids_of(spans[name]) == IDS, name
    assert spans["botanu.track/question_asked"].attributes["enduser.id"] == "user_123"
    assert ids_of(spans["outside"]) == {}
    assert dict(baggage.get_all()) == {}


def test_sessions_nest_and_inner_ids_override(botanu_init):
    botanu_init()
    with session(user_id="u1", session_id="s1"):
        with session(chat_id="c1"):
            assert current_session() == {"session_id": "s1", "chat_id": "c1", "user_id": "u1"}
            with session(chat_id="c2"):
                assert current_session()["chat_id"] == "c2"
            assert current_session()["chat_id"] == "c1"
        assert current_session() == {"session_id": "s1", "user_id": "u1"}
    assert current_session() == {}


def test_async_with_and_tasks_keep_their_own_sessions(botanu_init):
    botanu_init()
    seen = {}

    async def conversation(chat_id: str) -> None:
        async with session(chat_id=chat_id):
            await asyncio.sleep(0)
            seen[chat_id] = current_session()["chat_id"]

    async def main() -> None:
        await asyncio.gather(*(conversation(f"chat_{n}") for n in range(5)))

    asyncio.run(main())
    assert seen == {f"chat_{n}": f"chat_{n}" for n in range(5)}


def test_decorator_on_sync_and_async_functions(botanu_init):
    botanu_init()
    grouped = session(organization_id="org_1")

    @grouped
    def sync_work() -> dict:
        return current_session()

    @grouped
    async def async_work() -> dict:
        return current_session()

    assert sync_work() == {"organization_id": "org_1"}
    assert asyncio.run(async_work()) == {"organization_id": "org_1"}
    assert sync_work.__name__ == "sync_work"
    assert current_session() == {}


def test_one_instance_entered_from_many_threads(botanu_init):
    botanu_init()
    shared = session(user_id="u")
    errors = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            with shared:
                barrier.wait()
                assert current_session() == {"user_id": "u"}
            assert current_session() == {}
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_threads_started_inside_inherit_the_session(botanu_init, otlp_receiver):
    botanu_init(instrumentations=["threading"])
    with session(user_id="u7", chat_id="c7"):
        thread = threading.Thread(target=lambda: track("from_thread", None))
        thread.start()
        thread.join()
    span = spans_by_name(otlp_receiver)["botanu.track/from_thread"]
    assert span.attributes["enduser.id"] == "u7"
    assert span.attributes["botanu.chat_id"] == "c7"


def test_bad_ids_are_left_out_with_a_warning(botanu_init, caplog):
    botanu_init()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="botanu"), session(user_id=["x"], chat_id=7):
        assert current_session() == {"chat_id": "7"}
    assert "session() user_id must be a non-empty string" in caplog.text


def test_generator_functions_cannot_be_decorated(botanu_init, caplog):
    botanu_init()

    def numbers():
        yield 1

    with caplog.at_level(logging.WARNING, logger="botanu"):
        assert session(user_id="u")(numbers) is numbers
    assert "decorates plain and async functions only" in caplog.text


def test_strict_mode_raises_on_bad_ids(botanu_init):
    botanu_init(strict=True)
    with pytest.raises(botanu.BotanuUsageError):
        session(user_id="")


def test_sessions_do_not_grow_the_context():
    import contextvars

    from botanu import session as open_session

    before = len(contextvars.copy_context())
    for index in range(500):
        with open_session(user_id=f"u{index}"):
            pass
    assert len(contextvars.copy_context()) <= before + 1
