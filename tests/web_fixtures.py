"""The browser fixtures every Chromium test module shares (registered in ``conftest.py``).

``page`` opens the explorer served by the requesting module's own ``server`` fixture.
"""

from __future__ import annotations

import pytest
from web_helpers import LAPTOP, launch_chromium, open_page


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    yield from launch_chromium()


@pytest.fixture
def page_errors():
    return []


@pytest.fixture
def page(browser, server, page_errors):
    """The explorer on a laptop screen; at the end, closed and checked to have logged no errors."""
    page = open_page(browser, server, LAPTOP, page_errors)
    yield page
    page.close()
    assert page_errors == [], "the page logged errors"
