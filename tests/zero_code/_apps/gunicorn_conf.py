"""gunicorn settings for tests/zero_code/test_app_servers.py: say when each worker can serve."""

from __future__ import annotations


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    worker.log.info("app worker ready: %s", worker.pid)
