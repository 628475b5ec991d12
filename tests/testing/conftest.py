"""The plugin's fixtures for these tests, also from a source tree whose installed
metadata predates the plugin's entry point (registering twice is harmless)."""

from __future__ import annotations

from drachtio.testing import pytest_configure

__all__ = ["pytest_configure"]
