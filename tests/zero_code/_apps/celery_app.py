"""A Celery app on kombu's filesystem transport (no broker service) for tests/zero_code/test_app_servers.py.

The task is a botanu run of its own with one outbound HTTP call; it records the worker process's
id on its spans and leaves a file in APP_DONE_DIR when it has finished.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import requests
from celery import Celery
from opentelemetry import trace

import botanu

BROKER_DIR = os.environ["APP_BROKER_DIR"]
DOWNSTREAM = os.environ["APP_DOWNSTREAM"]

app = Celery("celery_app", broker="filesystem://")
app.conf.update(
    broker_transport_options={
        "data_folder_in": BROKER_DIR,
        "data_folder_out": BROKER_DIR,
        "polling_interval": 0.1,
    },
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_enable_remote_control=False,  # the filesystem transport has no fanout for it
    worker_prefetch_multiplier=1,
)


@app.task(name="app.work")
def work(n: int) -> None:
    trace.get_current_span().set_attributes({"app.pid": os.getpid(), "app.task": n})
    with botanu.event(event_id=f"task-{n}", customer_id="cus-1", workflow="NightlyTask"):
        # Hold this pool process a moment, so the tasks spread over both of them.
        time.sleep(0.1)
        requests.get(f"{DOWNSTREAM}/task/{n}", timeout=5).raise_for_status()
    (Path(os.environ["APP_DONE_DIR"]) / str(n)).touch()
