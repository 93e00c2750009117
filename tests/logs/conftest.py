"""Fixtures for log tests: the root logger restored after each test, an app logger at INFO."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Whatever a test does to the root logger and basicConfig is undone afterwards."""
    root = logging.root
    handlers, level = list(root.handlers), root.level
    basic_config = logging.basicConfig
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.basicConfig = basic_config


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    """The app's own logger, configured at INFO as an app would."""
    logger = logging.getLogger("shop.app")
    logger.setLevel(logging.INFO)
    try:
        yield logger
    finally:
        logger.setLevel(logging.NOTSET)
