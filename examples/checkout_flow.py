"""Checkout as a business flow: payment -> inventory -> order, with a "total matches" assertion.

Maps the Business-Use seed (``act()`` / ``assert_()``) onto botanu: every call is a
span ``checkout.<node>`` inside the order's ``botanu.event()`` run, the assertion's
validator runs here and now, and because the flow is declared, each order also
gets a ``botanu.flow.run`` span with its verdict.

Run it with ``python examples/checkout_flow.py``. No collector is needed: the
trace trees are printed on stderr (if nothing listens at the OTLP endpoint,
botanu warns once and the script still ends within a few seconds). To check the
same runs offline, export them to a file and run ``botanu flows check FILE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import botanu
from botanu.flows import act, assert_, define_flow

# The flow's shape: which node depends on which, and how long each may take.
define_flow(
    "checkout",
    [
        {"id": "payment_processed", "type": "act"},
        {"id": "inventory_reserved", "type": "act", "dep_ids": ["payment_processed"], "timeout": "5s"},
        {"id": "order_completed", "type": "act", "dep_ids": ["inventory_reserved"], "timeout": "5s"},
        {"id": "order_total_matches", "type": "assert", "dep_ids": ["order_completed"]},
    ],
    timeout="30s",
)


@dataclass
class Order:
    id: str
    customer: str
    items: list[dict[str, Any]]
    discount: int = 0
    charged: int = field(init=False, default=0)


def total_matches(data: Mapping[str, Any], ctx: dict[str, Any]) -> bool:
    """The charged total must equal the sum of the items the order completed with."""
    completed = next(dep["data"] for dep in ctx["deps"] if dep["id"] == "order_completed")
    return data["charged"] == sum(item["price"] * item["qty"] for item in completed["items"])


def checkout(order: Order) -> None:
    with botanu.event(event_id=order.id, customer_id=order.customer, workflow="Checkout"):
        # A pricing bug: the discount is applied to the charge but never to the items.
        order.charged = sum(item["price"] * item["qty"] for item in order.items) - order.discount
        with botanu.step("payment"):
            act(
                "payment_processed",
                "checkout",
                data={"amount": order.charged, "currency": "USD", "card": {"brand": "visa", "last4": "4242"}},
                description="card charged",
            )
        with botanu.step("inventory"):
            act("inventory_reserved", "checkout", data={"skus": [item["sku"] for item in order.items]})
        act("order_completed", "checkout", data={"order_id": order.id, "items": order.items})
        assert_(
            "order_total_matches",
            "checkout",
            data={"charged": order.charged},
            validator=total_matches,
            description="charged total equals the sum of the items",
        )
        # No run_id anywhere: inside botanu.event() the flow run is the botanu run.


def main() -> None:
    botanu.init(service_name="checkout", environment="demo", console=True)
    items = [{"sku": "book-1", "price": 20, "qty": 2}, {"sku": "pen-7", "price": 5, "qty": 1}]
    checkout(Order("ord_1001", "cus_42", items))
    checkout(Order("ord_1002", "cus_77", items, discount=10))
    delivered = botanu.shutdown(timeout=3)
    print("order ord_1001: flow passed; order ord_1002: flow failed (see the botanu.flow.run spans above)")
    print(f"spans delivered to the collector: {'yes' if delivered else 'no (is a collector running?)'}")


if __name__ == "__main__":
    main()
