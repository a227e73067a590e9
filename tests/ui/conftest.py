"""The browser suite: Playwright for Python driving Debian's Chromium against a real panel.

Nothing is downloaded: Chromium is launched by executable path (installed by ci/bootstrap.sh), with
Playwright's fresh temporary profile for every launch. Each test gets its own browser context (own
cookies). On failure the test's page is saved as a screenshot and HTML under a temporary directory
whose path is printed with the failure (never inside the repository). Console errors and uncaught
exceptions (including Content-Security-Policy violations) fail the test that caused them.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    sync_playwright,
)
from support.servers import PostgresServer, RedisServer
from ui_stack import CHROMIUM_ARGS, DESKTOP, PanelStack

CHROMIUM = os.environ.get("PANEL_UI_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 30_000  # generous: the machine is shared; tests wait on conditions, never on durations


@pytest.fixture(scope="session")
def stack(postgres_server: PostgresServer) -> Iterator[PanelStack]:
    """The panel under test. It has a Redis of its own: its worker must never take the jobs of
    other suites' tests, and their per-test FLUSHALL must never wipe its sessions."""
    name = postgres_server.create_database()
    redis = RedisServer().start()
    panel = PanelStack(postgres_server.url(name, driver="postgresql+psycopg2"), redis.url())
    try:
        yield panel.start()
    finally:
        panel.stop()
        redis.stop()
        postgres_server.drop_database(name)


@pytest.fixture
def panel(stack: PanelStack) -> PanelStack:
    stack.reset()
    return stack


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (ci/bootstrap.sh installs Debian's chromium)")
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def new_page(
    browser: Browser, panel: PanelStack, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """``new_page(viewport=DESKTOP, timezone_id=None)``: a page in a fresh context (its own cookies)."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    problems: list[str] = []
    request.node.ui_pages = pages  # read by pytest_runtest_makereport for the failure artifacts

    def make(viewport: dict[str, int] | None = None, timezone_id: str | None = None) -> Page:
        options: dict[str, Any] = {"viewport": viewport or DESKTOP, "base_url": panel.url}
        if timezone_id:
            options["timezone_id"] = timezone_id
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: _console(message, problems))
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on("response", lambda response: _subresource(response, problems))
        pages.append(page)
        return page

    yield make
    for context in contexts:
        context.close()
    expected = getattr(request.node, "expected_console_errors", 0)
    assert len(problems) <= expected, "browser console errors:\n" + "\n".join(problems)


def _console(message: ConsoleMessage, problems: list[str]) -> None:
    # Chrome also logs every 4xx answer here; pages answering 4xx on purpose (sign-in with a wrong
    # password, 403, the CSRF page) are fine, failing scripts, styles or htmx requests are not (below).
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(f"console error: {message.text}")


def _subresource(response: Response, problems: list[str]) -> None:
    if response.status >= 400 and response.request.resource_type != "document":
        problems.append(f"{response.request.resource_type} {response.url}: HTTP {response.status}")


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report = yield
    pages: list[Page] = [p for p in getattr(item, "ui_pages", []) if not p.is_closed()]
    if report.when == "call" and report.failed and pages:
        _save_artifacts(item, report, pages)
    return report


def _save_artifacts(item: pytest.Item, report: pytest.TestReport, pages: list[Page]) -> None:
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:60]  # parametrised ids may hold "/"
    folder = Path(tempfile.mkdtemp(prefix=f"panel-ui-{safe_name}-"))
    for number, failed_page in enumerate(pages):
        try:
            failed_page.screenshot(path=str(folder / f"page{number}.png"), full_page=True)
            (folder / f"page{number}.html").write_text(failed_page.content())
            (folder / f"page{number}.url").write_text(failed_page.url)
        except Exception as exc:  # the browser may be what failed; say so and keep the test's own error
            (folder / f"page{number}.error").write_text(repr(exc))
    report.sections.append(("ui artifacts", f"screenshot and HTML of each page saved under {folder}"))
