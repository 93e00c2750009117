"""Span and attribute names for flows: a stable wire contract (``botanu flows check`` relies on them)."""

from __future__ import annotations

FLOW = "botanu.flow"
RUN_ID = "botanu.run_id"  # the same key as a botanu run's id: a flow run defaults to it
# When a flow run id is given inside a botanu.event() run, the node span's botanu.run_id names
# the flow run; the botanu run it was recorded in stays findable under this key.
ENCLOSING_RUN_ID = "botanu.enclosing_run_id"
NODE_ID = "botanu.node.id"
NODE_TYPE = "botanu.node.type"
NODE_DEP_IDS = "botanu.node.dep_ids"
NODE_DESCRIPTION = "botanu.node.description"
ASSERT_PASSED = "botanu.assert.passed"
DATA_PREFIX = "botanu.data."

ACT = "act"
ASSERT = "assert"
NODE_TYPES = (ACT, ASSERT)

# The verdict span, one per flow run of a declared flow.
RUN_SPAN = "botanu.flow.run"
VERDICT = "botanu.flow.verdict"
FINAL = "botanu.flow.final"
INCOMPLETE_REASON = "botanu.flow.incomplete_reason"
NODES_PREFIX = "botanu.flow.nodes."  # + a node status: the ids of the nodes in that state
NODES_FILTERED = "botanu.flow.nodes.filtered"  # skipped because filter was false in this process
NODE_EVENT = "botanu.flow.node"  # one span event per node: id, type, status, reason
NODE_STATUS = "botanu.node.status"
NODE_REASON = "botanu.node.reason"

# Node statuses.
PASSED = "passed"
FAILED = "failed"
PENDING = "pending"
SKIPPED = "skipped"
NODE_STATUSES = (PASSED, FAILED, PENDING, SKIPPED)

# Run verdicts.
RUNNING = "running"
RUN_VERDICTS = (PASSED, FAILED, RUNNING, SKIPPED)
