"""Callables are evaluated at call time in the caller's context (threads and asyncio).

The Business-Use SDK evaluates them later on its worker thread, where
``current_run()`` is somebody else's (or nobody's) run; botanu must not.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import botanu
from botanu.flows import act, assert_
from tests.flows._helpers import exported, named

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def _run_id_of_caller() -> str:
    return botanu.current_run().run_id


def test_callables_see_the_value_at_call_time_not_later(botanu_init, otlp_receiver):
    botanu_init()
    token = request_id.set("req-1")
    act("a", "f", run_id=request_id.get, dep_ids=lambda: [request_id.get()])
    request_id.reset(token)
    span = named(exported(otlp_receiver), "f.a")[0]
    assert span.attributes["botanu.run_id"] == "req-1"
    assert span.attributes["botanu.node.dep_ids"] == ("req-1",)


def test_thread_pool_workers_use_their_callers_run(botanu_init, otlp_receiver):
    botanu_init(instrumentations=["threading"])
    barrier = threading.Barrier(4)
    expected = {}

    def handle(n: int) -> None:
        with botanu.event(event_id=f"e{n}", customer_id="c", workflow="Parallel") as run:
            expected[n] = run.run_id
            barrier.wait()  # all four runs are open at once

            def in_worker() -> None:
                act(
                    f"cb{n}", "par", run_id=_run_id_of_caller, filter=lambda: botanu.current_run() is not None
                )
                act(f"default{n}", "par")  # run_id omitted: the run this worker belongs to
                assert_(f"check{n}", "par", validator=lambda data, ctx: ctx["run_id"] == run.run_id)

            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(in_worker).result()

    threads = [threading.Thread(target=handle, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans = exported(otlp_receiver)
    for n, run_id in expected.items():
        for name in (f"par.cb{n}", f"par.default{n}", f"par.check{n}"):
            span = named(spans, name)[0]
            assert span.attributes["botanu.run_id"] == run_id, name
        assert named(spans, f"par.check{n}")[0].attributes["botanu.assert.passed"] is True


def test_asyncio_tasks_use_their_own_run(botanu_init, otlp_receiver):
    botanu_init()
    expected = {}

    async def handle(n: int) -> None:
        async with botanu.event(event_id=f"e{n}", customer_id="c", workflow="Async") as run:
            expected[n] = run.run_id
            await asyncio.sleep(0)  # interleave the tasks
            act(f"cb{n}", "aio", run_id=_run_id_of_caller)
            await asyncio.sleep(0)
            act(f"default{n}", "aio")
            assert_(f"check{n}", "aio", validator=lambda data, ctx: ctx["run_id"] == _run_id_of_caller())

    async def main() -> None:
        await asyncio.gather(*(handle(n) for n in range(5)))

    asyncio.run(main())
    spans = exported(otlp_receiver)
    assert len(set(expected.values())) == 5
    for n, run_id in expected.items():
        for name in (f"aio.cb{n}", f"aio.default{n}", f"aio.check{n}"):
            assert named(spans, name)[0].attributes["botanu.run_id"] == run_id, name
        assert named(spans, f"aio.check{n}")[0].attributes["botanu.assert.passed"] is True


def test_validator_runs_in_the_callers_thread(botanu_init):
    botanu_init()
    seen = []
    assert_("a", "f", "r", validator=lambda data, ctx: seen.append(threading.get_ident()) or True)
    assert seen == [threading.get_ident()]
