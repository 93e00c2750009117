"""How business data and properties become span attributes (shared by flows and analytics)."""

from __future__ import annotations

import datetime
import decimal
import uuid

from botanu._analytics_attributes import MAX_ATTRIBUTES, flatten


def test_values_otel_cannot_hold_become_readable_text():
    flat = flatten(
        "p.",
        {
            "when": datetime.datetime(2025, 1, 1, 12, 30),
            "day": datetime.date(2025, 1, 2),
            "blob": b"secret bytes",
            "price": decimal.Decimal("1.50"),
            "id": uuid.UUID(int=1),
            "tags": {"b", "a"},
            "big": 2**70,
            "bigs": [1, 2**70],
            "empty": [],
        },
    )
    assert flat == {
        "p.when": "2025-01-01T12:30:00",
        "p.day": "2025-01-02",
        "p.blob": "<12 bytes>",  # never the content
        "p.price": "1.50",
        "p.id": "00000000-0000-0000-0000-000000000001",
        "p.tags": '["a", "b"]',
        "p.big": str(2**70),
        "p.bigs": f"[1, {2**70}]",
        "p.empty": [],
    }


def test_nesting_stops_at_four_levels_and_cycles_do_not_hang():
    cycle: dict = {}
    cycle["self"] = cycle
    flat = flatten("p.", {"a": {"b": {"c": {"d": {"e": 1}}}}, "cycle": cycle, 3: "int key"})
    assert flat["p.a.b.c.d"] == '{"e": 1}'  # four levels of keys, then JSON
    assert flat["p.3"] == "int key"
    assert any(key.startswith("p.cycle.") for key in flat)


def test_the_number_of_attributes_is_bounded():
    flat = flatten("p.", {"nested": {f"k{i}": i for i in range(200)}})
    assert len(flat) == MAX_ATTRIBUTES + 1
    assert flat["p._truncated"] == 200 - MAX_ATTRIBUTES
