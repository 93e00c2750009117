"""botanu quickstart: a support ticket handled by an "agent", traced as a business run.

Run it with ``make demo`` (or ``python examples/quickstart.py`` after installing).
It needs no collector: the trace tree is printed on stderr, and if nothing listens
at the OTLP endpoint (default http://localhost:4318/v1/traces) botanu warns once
and the script still ends within a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import botanu


@dataclass
class Ticket:
    id: str
    user_id: str
    question: str


def search_knowledge_base(question: str) -> list[str]:
    time.sleep(0.01)  # stands in for a vector database query
    return ["Reset your password from the account page.", "Tokens expire after 24 hours."]


def score(document: str) -> float:
    # Runs on a worker thread: the run context (and so the run id) follows it there.
    run = botanu.current_run()
    assert run is not None, "the run context reaches thread pools"
    return len(document) / 100


async def generate_answer(documents: list[str]) -> str:
    await asyncio.sleep(0.01)  # stands in for an LLM call
    return f"Here is what I found: {documents[0]}"


@botanu.event(
    workflow="Support", event_id=lambda ticket: ticket.id, customer_id=lambda ticket: ticket.user_id
)
async def handle_ticket(ticket: Ticket) -> str:
    with botanu.step("retrieval"):
        documents = search_knowledge_base(ticket.question)
        with ThreadPoolExecutor(max_workers=2) as pool:
            scores = list(pool.map(score, documents))
    async with botanu.step("generation"):
        answer = await generate_answer(documents)
    botanu.outcome("success", value_type="tickets_resolved", value_amount=1, confidence=max(scores))
    return answer


def refund(order_id: str) -> None:
    with botanu.event(event_id=order_id, customer_id="cus_42", workflow="Refund"):
        with botanu.step("check-eligibility"):
            # An ordinary logging call: exported as a log record tied to this step and run, and
            # printed inside the trace tree below.
            logging.getLogger("support.refunds").warning("order %s is past the refund window", order_id)
            raise ValueError(f"order {order_id} is older than 90 days")


def main() -> None:
    botanu.init(service_name="quickstart", environment="demo", console=True)
    answer = asyncio.run(handle_ticket(Ticket("T-1001", "cus_42", "How do I reset my password?")))
    print(f"agent answered: {answer}")
    try:
        refund("ord_778")
    except ValueError as error:
        print(f"refund failed as expected: {error}")
    delivered = botanu.shutdown(timeout=3)
    print(f"spans delivered to the collector: {'yes' if delivered else 'no (is a collector running?)'}")


if __name__ == "__main__":
    main()
