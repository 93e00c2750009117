"""Flow tests start with no declared flows and no remembered runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from botanu import flows


@pytest.fixture(autouse=True)
def clean_flows() -> Iterator[None]:
    flows._reset_for_tests()
    yield
    flows._reset_for_tests()
