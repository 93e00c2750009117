"""Every public ``botanu.*`` call with bad input: nothing escapes (strict mode: only BotanuUsageError)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import botanu
from botanu import _safety
from botanu._config import SETTING_NAMES
from tests.conftest import reset_botanu


class Hostile:
    """Every conversion raises, as a buggy user object might. ``repr``, ``==`` and ``hash``
    work, because Hypothesis itself needs them; the subclasses below break those too."""

    def _boom(self, *args: Any) -> Any:
        raise RuntimeError("hostile object")

    __str__ = __format__ = __bool__ = __len__ = __iter__ = _boom  # type: ignore[assignment]
    __float__ = __int__ = __index__ = _boom  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<Hostile>"


class HostileRepr(Hostile):
    __repr__ = Hostile._boom  # type: ignore[assignment]


class HostileEq(Hostile):
    __eq__ = Hostile._boom  # type: ignore[assignment]
    __hash__ = Hostile._boom  # type: ignore[assignment]


class Hopeless(HostileEq):
    """Nothing works, not even ``repr``: what a broken proxy object looks like."""

    __repr__ = Hostile._boom  # type: ignore[assignment]


class UserError(Exception):
    pass


# Strings without ':' or '/', so that no fuzzed value can be a URL to a real host (loopback only).
SAFE_TEXT = st.text(alphabet=st.characters(blacklist_characters=":/\\"), max_size=40)

PLAIN_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(min_value=-1e6, max_value=1e6),
    st.just(math.nan),
    SAFE_TEXT,
    st.just("x" * 100_000),
    st.binary(max_size=16),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(SAFE_TEXT, st.integers(), max_size=3),
    st.sampled_from([object(), {1, 2}, (1, "a"), lambda: None, int, Ellipsis, b"\xff\xfe"]),
)
JUNK = st.one_of(PLAIN_JUNK, st.just(Hostile()))

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Every setting, except two whose fuzzed values could reach outside the test: ``instrumentations``
# (a bad value means "all", which patches HTTP libraries process-wide) and ``spool_dir`` (a path).
INIT_PARAMS = [name for name in SETTING_NAMES if name not in ("instrumentations", "spool_dir")]


@pytest.fixture
def fresh(otlp_receiver, tmp_path, monkeypatch):
    """Reset botanu; return a starter that initialises it against the loopback receiver."""
    monkeypatch.setenv("BOTANU_SPOOL_DIR", str(tmp_path / "spool"))

    def start(**overrides: Any) -> None:
        reset_botanu()
        options = {"endpoint": otlp_receiver.endpoint, "instrumentations": False, "shutdown_timeout": 1}
        options.update(overrides)
        botanu.init(**options)

    yield start
    reset_botanu()


def quick(call: Callable[[], Any], limit: float = 5.0) -> Any:
    """Run ``call``; it must neither raise nor take long (the API never blocks on the network)."""
    started = time.monotonic()
    result = call()
    assert time.monotonic() - started < limit
    return result


def use_run(**event_kwargs: Any) -> Callable[[], None]:
    def run() -> None:
        with botanu.event(**event_kwargs):
            with botanu.step("inner"):
                pass

    return run


# --------------------------------------------------------------------------- lenient mode: nothing raises


@FUZZ
@given(name=st.sampled_from(INIT_PARAMS), value=PLAIN_JUNK)
def test_init_with_a_bad_setting_never_raises(fresh, name, value):
    if name == "strict" and value not in (None, False):
        value = "not-a-bool"  # strict=True would (rightly) turn the rest of this test strict
    assume(not (name == "spool_max_bytes" and isinstance(value, float) and math.isnan(value)))  # known bug
    fresh()
    reset_botanu()
    options: dict[str, Any] = {"instrumentations": False, "shutdown_timeout": 1, name: value}
    quick(lambda: botanu.init(**options))
    quick(lambda: botanu.init(**{name: value}))  # the second call: a no-op with a warning
    quick(use_run(event_id="e", customer_id="c", workflow="Fuzz"))
    assert isinstance(quick(botanu.stats), dict)


@FUZZ
@given(
    event_id=JUNK,
    customer_id=JUNK,
    workflow=JUNK,
    environment=JUNK,
    tenant_id=JUNK,
    capture_input=PLAIN_JUNK,
    span_kind=JUNK,
    auto=PLAIN_JUNK,
)
def test_event_and_step_with_bad_input_never_raise(
    fresh, event_id, customer_id, workflow, environment, tenant_id, capture_input, span_kind, auto
):
    fresh()
    kwargs = dict(
        event_id=event_id,
        customer_id=customer_id,
        workflow=workflow,
        environment=environment,
        tenant_id=tenant_id,
        capture_input=capture_input,
        span_kind=span_kind,
        auto_outcome_on_success=auto,
    )
    quick(use_run(**kwargs))

    @botanu.event(**kwargs)
    def decorated(*args: Any, **kw: Any) -> str:
        with botanu.step(workflow):
            return "result"

    assert quick(lambda: decorated(Hostile(), x=object())) == "result"
    assert quick(lambda: asyncio.run(_async_run(kwargs))) == "async result"
    # The user's own exception comes out unchanged.
    with pytest.raises(UserError):
        with botanu.event(**kwargs):
            with botanu.step("body"):
                raise UserError("mine")


async def _async_run(kwargs: dict[str, Any]) -> str:
    async with botanu.event(**kwargs):
        async with botanu.step("async-step"):
            return "async result"


@FUZZ
@given(
    status=PLAIN_JUNK, reason=PLAIN_JUNK, value_type=PLAIN_JUNK, amount=JUNK, confidence=JUNK, meta=PLAIN_JUNK
)
def test_outcome_with_bad_input_never_raises(fresh, status, reason, value_type, amount, confidence, meta):
    fresh()
    quick(lambda: botanu.outcome(status, reason, value_type, amount, confidence, meta))  # outside a run
    with botanu.event(event_id="e", customer_id="c", workflow="Outcome"):
        quick(lambda: botanu.outcome(status, reason, value_type, amount, confidence, meta))
        with botanu.step("s"):
            quick(lambda: botanu.outcome(status, reason, value_type, amount, confidence, meta))
        assert quick(botanu.current_run) is not None
    assert quick(botanu.current_run) is None


@FUZZ
@given(timeout=JUNK)
def test_flush_shutdown_stats_with_bad_timeouts_never_raise(fresh, timeout):
    fresh()
    quick(use_run(event_id="e", customer_id="c", workflow="Flush"))
    assert quick(lambda: botanu.force_flush(timeout)) in (True, False)
    assert isinstance(quick(botanu.stats), dict)
    assert quick(lambda: botanu.shutdown(timeout)) in (True, False)
    assert quick(lambda: botanu.shutdown(timeout)) in (True, False), "a second shutdown is harmless"
    assert quick(lambda: botanu.force_flush(timeout)) in (True, False)
    assert quick(botanu.stats)["balanced"]


def test_calls_before_init_and_after_shutdown_never_raise(fresh):
    reset_botanu()
    quick(use_run(event_id="e", customer_id="c", workflow="Early"))
    assert quick(lambda: botanu.force_flush(1)) is True
    assert quick(botanu.stats)["balanced"]
    fresh()
    botanu.shutdown(1)
    quick(use_run(event_id="e", customer_id="c", workflow="Late"))
    assert quick(botanu.stats)["balanced"]


# --------------------------------------------------------------------------- strict: BotanuUsageError only


def strictly(call: Callable[[], Any]) -> BaseException | None:
    """Run ``call`` in strict mode; return the BotanuUsageError it raised (any other error fails)."""
    try:
        call()
    except botanu.BotanuUsageError as error:
        return error
    return None


@FUZZ
@given(step_name=PLAIN_JUNK, status=PLAIN_JUNK, timeout=PLAIN_JUNK, workflow=PLAIN_JUNK, event_id=PLAIN_JUNK)
def test_strict_mode_raises_only_botanu_usage_error(fresh, step_name, status, timeout, workflow, event_id):
    fresh()
    _safety.set_strict(True)
    try:
        strictly(lambda: botanu.step(step_name))
        strictly(use_run(event_id=event_id, customer_id="c", workflow=workflow))

        def outcome_in_run() -> None:
            with botanu.event(event_id="e", customer_id="c", workflow="Strict"):
                botanu.outcome(status)

        strictly(outcome_in_run)
        strictly(lambda: botanu.force_flush(timeout))
        strictly(lambda: botanu.init(service_name=workflow))
    finally:
        _safety.set_strict(None)


def test_strict_mode_raises_on_clearly_bad_input(fresh):
    fresh()
    _safety.set_strict(True)
    try:
        assert strictly(lambda: botanu.step(123)) is not None
        assert strictly(lambda: botanu.step("")) is not None
        assert strictly(lambda: botanu.force_flush("soon")) is not None
        assert strictly(lambda: botanu.force_flush(-1)) is not None
        assert strictly(lambda: botanu.outcome("success")) is not None, "outside a run"
        assert strictly(use_run(event_id="e", customer_id="c", workflow="")) is not None
        assert strictly(use_run(event_id=object(), customer_id="c", workflow="W")) is not None

        def bad_status() -> None:
            with botanu.event(event_id="e", customer_id="c", workflow="Strict"):
                botanu.outcome("great")

        assert strictly(bad_status) is not None
        reset_botanu()
        _safety.set_strict(True)
        assert strictly(lambda: botanu.init(export_timeout="fast", instrumentations=False)) is not None
    finally:
        _safety.set_strict(None)


# --------------------------------------------------------------------------- never blocks on the network


def test_app_calls_do_not_wait_for_a_hanging_collector(fresh, otlp_receiver):
    from tests.support.otlp_receiver import Reply

    otlp_receiver.default = Reply(200, delay=5)
    fresh(export_timeout=10)
    slowest = 0.0
    for index in range(300):
        started = time.monotonic()
        with botanu.event(event_id=str(index), customer_id="c", workflow="Hang"):
            with botanu.step("s"):
                pass
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 0.2, slowest
    started = time.monotonic()
    assert botanu.shutdown(1) is False
    assert time.monotonic() - started < 2.5


def test_init_does_not_wait_for_replay_of_a_large_spool(fresh, otlp_receiver, tmp_path):
    from botanu.export import Spool, spool_directory

    fresh()
    directory = spool_directory(botanu._pipeline.active_settings())
    reset_botanu()
    spool = Spool(directory)
    for _ in range(300):
        spool.put(b"\x00" * 2000, 1, gzipped=False)
    started = time.monotonic()
    fresh()
    assert time.monotonic() - started < 0.5
    assert otlp_receiver.wait_for(lambda r: botanu.stats()["replayed"] == 300, timeout=20)
    assert len(otlp_receiver.requests) == 300


# --------------------------------------------------------------------------- known bugs elsewhere (reported)


def _in_run(call: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        with botanu.event(event_id="e", customer_id="c", workflow="Bug"):
            call()

    return run


def _decorated_with_capture_input(flag: Any) -> Callable[[], None]:
    def run() -> None:
        botanu.event(event_id="e", customer_id="c", workflow="W", capture_input=flag)(lambda: None)()

    return run


# Inputs that once raised into user code (hostile __repr__/__eq__/__bool__, overflowing numbers).
HOSTILE_CASES = [
    pytest.param(lambda: botanu.force_flush(math.inf), id="_pipeline.force_flush(inf): int(inf*1000)"),
    pytest.param(lambda: botanu.force_flush(1e308), id="_pipeline.force_flush(1e308): overflow"),
    pytest.param(lambda: botanu.force_flush(2**2000), id="_pipeline._seconds(2**2000): float() overflow"),
    pytest.param(lambda: botanu.init(endpoint=HostileRepr()), id="_config._shown: repr() of the bad value"),
    pytest.param(lambda: botanu.init(spool_max_bytes=math.nan), id="_config._parse_bytes(nan): int(nan)"),
    pytest.param(lambda: botanu.init(spool_max_bytes=math.inf), id="_config._parse_bytes(inf): int(inf)"),
    pytest.param(
        _in_run(lambda: botanu.outcome(HostileEq())), id="_run.outcome: status compared before type check"
    ),
    pytest.param(_in_run(lambda: botanu.outcome("success", Hostile())), id="_run.outcome: str(reason)"),
    pytest.param(
        _in_run(lambda: botanu.outcome("success", value_amount=2**2000)), id="_run.outcome: float(amount)"
    ),
    pytest.param(
        _in_run(lambda: botanu.outcome("success", metadata={"k": Hostile()})), id="_run.outcome: str(meta)"
    ),
    pytest.param(
        use_run(event_id="e", customer_id="c", workflow="W", auto_outcome_on_success=Hostile()),
        id="_run.Event: bool(auto_outcome_on_success)",
    ),
    pytest.param(_decorated_with_capture_input(Hostile()), id="_run._should_capture: bool(capture_input)"),
    # misuse() hands the user's object to logging with %r; a raising __repr__ becomes a
    # "--- Logging error ---" traceback on stderr (pytest's log handler raises it instead).
    pytest.param(
        use_run(event_id="e", customer_id="c", workflow=HostileRepr()), id="_safety.misuse: %r of workflow"
    ),
    pytest.param(lambda: botanu.step(HostileRepr()), id="_safety.misuse: %r of step name"),
    pytest.param(lambda: botanu.force_flush(HostileRepr()), id="_safety.misuse: %r of the timeout"),
]


@pytest.mark.parametrize("call", HOSTILE_CASES)
def test_hostile_inputs_never_raise_into_user_code(fresh, call, caplog):
    fresh()
    if "init" in call.__code__.co_names:
        reset_botanu()  # a first init(), not the ignored second one
    with caplog.at_level(logging.WARNING, logger="botanu"):
        call()


# ----------------------------------------------------------- bad input: one warning, or BotanuUsageError


def _init_with(**settings: Any) -> Callable[[], Any]:
    options = {"instrumentations": False, "shutdown_timeout": 1, **settings}
    return lambda: botanu.init(**options)


BAD_INPUT_CASES = [
    pytest.param(lambda: botanu.define_flow(Hopeless(), ["a"]), id="define_flow(hostile name)"),
    pytest.param(lambda: botanu.define_flow("f", Hopeless()), id="define_flow(hostile nodes)"),
    pytest.param(
        lambda: botanu.define_flow("f", [{"id": "a", "type": Hopeless()}]), id="define_flow(node type)"
    ),
    pytest.param(
        lambda: botanu.define_flow("f2", ["a"], timeout=Hopeless()), id="define_flow(hostile timeout)"
    ),
    pytest.param(lambda: botanu.define_flow("f3", ["a"], timeout=2**2000), id="define_flow(huge timeout)"),
    pytest.param(lambda: botanu.load_flows(None), id="load_flows(None)"),
    pytest.param(lambda: botanu.load_flows(123), id="load_flows(123)"),
    pytest.param(lambda: botanu.load_flows(Hopeless()), id="load_flows(hostile)"),
    pytest.param(lambda: botanu.load_flows("\x00\ud800"), id="load_flows(NUL and surrogate)"),
    pytest.param(_init_with(export_timeout=Hopeless()), id="init(export_timeout)"),
    pytest.param(_init_with(shutdown_timeout=Hopeless()), id="init(shutdown_timeout)"),
    pytest.param(_init_with(content_capture_rate=Hopeless()), id="init(content_capture_rate)"),
    pytest.param(_init_with(spool_max_bytes=Hopeless()), id="init(spool_max_bytes)"),
    pytest.param(_init_with(spool_max_age=Hopeless()), id="init(spool_max_age)"),
    pytest.param(_init_with(api_key="k\ud800"), id="init(api_key surrogate)"),
    pytest.param(_init_with(headers={"x": "\ud800"}), id="init(header surrogate)"),
]


def _botanu_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "botanu" and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("call", BAD_INPUT_CASES)
def test_bad_input_gives_one_warning_and_raises_nothing(fresh, call, caplog):
    fresh()
    reset_botanu()  # for init(): a first call, not the ignored second one
    with caplog.at_level(logging.WARNING, logger="botanu"):
        call()
    assert len(_botanu_warnings(caplog)) == 1, _botanu_warnings(caplog)


@pytest.mark.parametrize("call", BAD_INPUT_CASES)
def test_bad_input_in_strict_mode_raises_botanu_usage_error(fresh, call):
    fresh()
    reset_botanu()
    _safety.set_strict(True)
    try:
        with pytest.raises(botanu.BotanuUsageError):
            call()
    finally:
        _safety.set_strict(None)


@pytest.mark.parametrize(
    "settings", [{"api_key": "k\ud800"}, {"headers": {"x": "\ud800"}}], ids=["api_key", "header"]
)
def test_init_with_a_key_no_header_can_carry_raises_nothing(fresh, otlp_receiver, settings):
    fresh()
    reset_botanu()
    # This once raised UnicodeEncodeError while naming the spool directory after the credentials.
    quick(_init_with(endpoint=otlp_receiver.endpoint, **settings))
    quick(use_run(event_id="e", customer_id="c", workflow="Key"))
    assert quick(lambda: botanu.shutdown(1)) in (True, False)
    assert quick(botanu.stats)["balanced"]
