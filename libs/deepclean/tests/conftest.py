"""Fixtures shared by the library's tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def root_logging():
    """Whatever configure_logging installs is removed after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
