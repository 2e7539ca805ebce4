"""Debian's chromium driven by Playwright (its own browser download cannot work here), for the
page's tests and benchmarks/page_bench.py. In CI a missing browser fails rather than skips."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):  # .ci/run installs it; CI must run these tests
        if os.environ.get("CI"):
            pytest.fail(f"the page's tests need Debian's chromium at {CHROMIUM} in CI")
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium, closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
