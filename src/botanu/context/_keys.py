"""Attribute names and baggage keys of runs: botanu's stable wire contract (tests assert them)."""

from __future__ import annotations

RUN_ID = "botanu.run_id"
WORKFLOW = "botanu.workflow"
EVENT_ID = "botanu.event_id"
CUSTOMER_ID = "botanu.customer_id"
TENANT_ID = "botanu.tenant_id"
ENVIRONMENT = "botanu.environment"
STEP = "botanu.step"
PARENT_RUN_ID = "botanu.parent_run_id"
INPUT = "botanu.input"

OUTCOME_STATUS = "botanu.outcome.status"
OUTCOME_REASON = "botanu.outcome.reason"
OUTCOME_VALUE_TYPE = "botanu.outcome.value_type"
OUTCOME_VALUE_AMOUNT = "botanu.outcome.value_amount"
OUTCOME_CONFIDENCE = "botanu.outcome.confidence"
OUTCOME_METADATA_PREFIX = "botanu.outcome.metadata."

OUTCOME_STATUSES = ("success", "failure", "partial", "timeout", "canceled")

# Keys that identify a run; carried in baggage and stamped on every span inside it.
RUN_BAGGAGE_KEYS = (RUN_ID, WORKFLOW, EVENT_ID, CUSTOMER_ID, TENANT_ID, ENVIRONMENT, STEP, PARENT_RUN_ID)

RUN_SPAN_PREFIX = "botanu.run/"
STEP_SPAN_PREFIX = "botanu.step/"
