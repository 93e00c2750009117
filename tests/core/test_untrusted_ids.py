"""Business ids from untrusted input: lone surrogates, ids whose __str__ raises, numpy-like numbers."""

from __future__ import annotations

import numbers

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import botanu


class NumpyLikeInt:
    """Registers as numbers.Integral, as numpy's integer types do, without being an int."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return f"np.int64({self.value})"


numbers.Integral.register(NumpyLikeInt)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def test_lone_surrogates_are_replaced_and_the_data_kept(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id="ord-\ud800-1", customer_id="cus-\udfff", workflow="Check\ud83dout"):
        with botanu.step("st\udc00ep"):
            pass
    botanu.force_flush(5)
    names = sorted(s.name for s in otlp_receiver.spans())
    assert names == ["botanu.run/Check\ufffdout", "botanu.step/st\ufffdep"]
    for span in otlp_receiver.spans():
        assert span.attributes["botanu.customer_id"] == "cus-\ufffd"
        assert span.attributes["botanu.event_id"] == "ord-\ufffd-1"


@settings(max_examples=40, deadline=None)
@given(
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(), max_size=20)
)
def test_any_text_id_keeps_its_span_and_attribute(text):
    from botanu._safety import valid_text

    cleaned = valid_text(text)
    cleaned.encode("utf-8")  # always encodable
    assert len(cleaned) == len(text)
    assert all(a == b or b == "\ufffd" for a, b in zip(text, cleaned, strict=True))


def test_numpy_like_integers_are_converted(botanu_init, otlp_receiver):
    botanu_init()
    with botanu.event(event_id=NumpyLikeInt(42), customer_id="c", workflow="W"):  # type: ignore[arg-type]
        pass
    botanu.force_flush(5)
    assert otlp_receiver.span("botanu.run/W").attributes["botanu.event_id"] == "42"


def test_an_id_whose_str_raises_does_not_reach_the_app(botanu_init, otlp_receiver):
    botanu_init()

    @botanu.event(event_id=lambda order: order, customer_id="c", workflow="Deco")
    def handle(order: object) -> str:
        return "handled"

    assert handle(Unprintable()) == "handled"
    with botanu.event(event_id=Unprintable(), customer_id="c", workflow="Ctx"):  # type: ignore[arg-type]
        pass
    botanu.force_flush(5)
    assert "botanu.event_id" not in otlp_receiver.span("botanu.run/Ctx").attributes
    assert "botanu.event_id" not in otlp_receiver.span("botanu.run/Deco").attributes


def test_strict_mode_raises_for_an_unprintable_id(botanu_init):
    botanu_init(strict=True)
    with (
        pytest.raises(botanu.BotanuUsageError),
        botanu.event(
            event_id=Unprintable(),  # type: ignore[arg-type]
            customer_id="c",
            workflow="W",
        ),
    ):
        pass
