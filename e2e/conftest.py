"""Fixtures for the end-to-end tests: a real Arize Phoenix server and a recording proxy in front of it.

Phoenix is not a dependency of botanu: ``make e2e`` installs it in its own venv (``.venv-phoenix``)
and points ``BOTANU_PHOENIX`` at its ``phoenix`` command. Without that variable the tests are skipped;
with it, a Phoenix that does not start fails them.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator

import pytest
from phoenix_harness import Phoenix, PhoenixFailed, RecordingProxy, start_phoenix, stop_phoenix


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    binary = os.environ.get("BOTANU_PHOENIX")
    if not binary:
        pytest.skip("BOTANU_PHOENIX is not set (`make e2e` installs Phoenix in .venv-phoenix and sets it)")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"BOTANU_PHOENIX={binary!r} is not an executable file")
    try:
        server = start_phoenix(binary, tmp_path_factory.mktemp("phoenix"))
    except PhoenixFailed as error:
        failure = str(error)  # its stderr and stdout, shown without the harness's traceback
    else:
        failure = None
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    print(f"Phoenix ready in {server.ready_after:.1f} s at {server.base_url}")
    try:
        yield server
    finally:
        stop_phoenix(server)


@pytest.fixture(scope="session")
def recording_proxy(phoenix: Phoenix) -> Iterator[RecordingProxy]:
    port = urllib.parse.urlsplit(phoenix.base_url).port
    assert port is not None
    proxy = RecordingProxy(upstream_port=port)
    try:
        yield proxy
    finally:
        proxy.close()
