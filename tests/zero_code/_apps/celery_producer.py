"""Sends COUNT tasks to celery_app inside one botanu run and prints the run's id."""

from __future__ import annotations

import sys

from celery_app import work

import botanu

with botanu.event(event_id="batch-1", customer_id="cus-1", workflow="Nightly"):
    for n in range(int(sys.argv[1])):
        work.delay(n)
    print("run", botanu.current_run().run_id, flush=True)
