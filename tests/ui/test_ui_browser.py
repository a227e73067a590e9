"""The panel UI in a real browser (Chromium): what a person does, end to end."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from ui_stack import PHONE, PanelStack

expect.set_options(timeout=30_000)


def sign_in(page: Page, who: dict[str, str], landing: str = "/") -> None:
    page.goto(f"/login?next={landing}")
    page.get_by_label("Username").fill(who["username"])
    page.get_by_label("Password").fill(who["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port that accepts connections: a server that is up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


def test_sign_in_and_out(panel: PanelStack, page: Page) -> None:
    who = panel.user("alice", "operator")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password")
    sign_in(page, who)
    expect(page.get_by_role("heading", name="Servers", exact=True)).to_be_visible()
    expect(page.locator(".whoami")).to_contain_text("alice")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


def wait_until_checked(page: Page, pending_pill: str, timeout: float = 60) -> None:
    """Ask the URL the pending pill polls until it answers with the check's outcome."""
    found = re.search(r'hx-get="([^"]+)"', pending_pill)
    assert found, pending_pill
    url = found.group(1).replace("&amp;", "&")
    deadline = time.monotonic() + timeout
    while "checking…" in page.request.get(url).text():
        assert time.monotonic() < deadline, f"the check behind {url} never finished"
        time.sleep(0.2)


def test_create_check_history_edit_delete(panel: PanelStack, page: Page, listener: int) -> None:
    sign_in(page, panel.user("olga", "operator"))
    page.get_by_role("link", name="Add server").click()

    page.get_by_label("Name").fill("bad name!")
    page.get_by_label("Port").fill("99999")
    page.get_by_role("button", name="Add server").click()
    expect(page.locator("#name-error")).to_be_visible()
    expect(page.locator("#port-error")).to_have_text("Enter a whole number from 1 to 65535.")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Name").fill("web-01")
    page.get_by_label("Address").fill("127.0.0.1")
    page.get_by_label("Port").fill(str(listener))
    page.get_by_label("Tags").fill("web, eu")
    page.get_by_label("Owner").fill("team-a")
    page.get_by_role("button", name="Add server").click()
    expect(page.get_by_role("heading", name="web-01")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("Server web-01 created.")

    # "Check now" on the list: the status changes in place, without a reload.
    page.get_by_role("link", name="Servers", exact=True).first.click()
    row = page.get_by_role("row").filter(has_text="web-01")
    expect(row.locator(".pill")).to_have_text("unknown")
    page.evaluate("window.__stillTheSamePage = true")
    row.get_by_role("button", name="Check web-01 now").click()
    expect(row.locator(".pill")).to_have_text("up")
    assert page.evaluate("window.__stillTheSamePage") is True, "the page was reloaded"
    expect(row.locator("time")).to_be_visible()

    # The detail page: heartbeats and uptime from the stored history.
    for _ in range(2):
        # The pending pill lives about a second (it asks every second): too short to be sure of seeing it
        # on a loaded machine, so the answer to the click is checked, then the job's outcome awaited.
        check_posted = page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/check"))
        with check_posted as posted:
            row.get_by_role("button", name="Check web-01 now").click()
        answer = posted.value.text()
        assert "checking…" in answer and 'hx-trigger="every 1s"' in answer, answer
        wait_until_checked(page, answer)
        expect(row.locator(".pill")).to_have_text("up")
    page.get_by_role("link", name="web-01").click()
    expect(page.locator("rect.beat-up")).to_have_count(3)
    expect(page.locator("rect.beat-empty")).to_have_count(87)
    expect(page.get_by_test_id("uptime-24h")).to_have_text("100.00%")
    expect(page.get_by_test_id("uptime-30d")).to_have_text("100.00%")
    expect(page.locator("polyline.latency-line")).to_have_count(1)

    # Edit: point it at a closed port; the next check shows it down with the error.
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Port").fill("1")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".subtitle")).to_contain_text("tcp://127.0.0.1:1")
    page.get_by_role("button", name="Check now").click()
    expect(page.locator("#server-live .pill")).to_have_text("down")  # the live section refreshes itself
    expect(page.locator("#server-errors")).to_contain_text("Error")  # refreshed with it
    expect(page.locator("rect.beat-down")).to_have_count(1)
    expect(page.get_by_test_id("uptime-24h")).to_have_text("75.00%")

    # Delete, through the confirmation page.
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete web-01").click()
    expect(page.get_by_role("status").first).to_contain_text("Server web-01 deleted.")
    expect(page.get_by_role("row").filter(has_text="web-01")).to_have_count(0)


def test_the_list_updates_itself_when_a_check_finishes_elsewhere(
    panel: PanelStack, new_page: Callable[..., Page]
) -> None:
    (server_id,) = panel.servers(1, name="api-01", address="127.0.0.1", port=1)
    page = new_page()
    sign_in(page, panel.user("oscar", "operator"))
    second = new_page()  # another person, in another browser context
    sign_in(second, panel.user("otto", "operator"), f"/servers/{server_id}")
    second.get_by_role("button", name="Check now").click()
    expect(page.locator(f"#status-{server_id}")).to_have_text("down")  # polled, no reload
    expect(page.locator(".tile-down .tile-n")).to_have_text("1")


def test_viewer_sees_no_write_controls(panel: PanelStack, page: Page) -> None:
    (server_id,) = panel.servers(1, name="db-01")
    sign_in(page, panel.user("vera", "viewer"))
    expect(page.get_by_role("row").filter(has_text="db-01")).to_be_visible()
    for name in ("Add server", "Check all servers", "Check selected", "Check db-01 now"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    for name in ("Audit log", "Users", "Notifications"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    page.get_by_role("link", name="db-01").click()
    for name in ("Check now", "Edit", "Delete", "Manage"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    response = page.goto(f"/servers/{server_id}/edit")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Your role (viewer) cannot do this")


def test_admin_creates_a_user_changes_the_role_and_resets_the_password(
    panel: PanelStack, new_page: Callable[..., Page]
) -> None:
    admin = new_page()
    sign_in(admin, panel.user("root", "admin"))
    admin.get_by_role("link", name="Users").click()
    admin.get_by_role("link", name="Add user").click()
    admin.get_by_label("Username").fill("bob")
    admin.get_by_label("Email").fill("bob@example.org")
    admin.get_by_label("Role", exact=True).select_option("viewer")
    admin.get_by_label("Initial password").fill("short")
    admin.get_by_role("button", name="Add user").click()
    expect(admin.locator("#password-error")).to_be_visible()
    admin.get_by_label("Initial password").fill("Violet-tundra-compass-41")
    admin.get_by_role("button", name="Add user").click()
    expect(admin.get_by_role("heading", name="bob")).to_be_visible()

    admin.get_by_label("Role of bob").select_option("operator")
    admin.get_by_role("button", name="Change role").click()
    expect(admin.get_by_role("status").first).to_contain_text("bob is now operator.")

    bob = new_page()
    sign_in(bob, {"username": "bob", "password": "Violet-tundra-compass-41"})
    expect(bob.get_by_role("link", name="Add server")).to_be_visible()  # operators may add servers

    admin.get_by_role("button", name="Reset password").click()
    new_password = admin.get_by_role("textbox", name="Password", exact=True).input_value()
    assert len(new_password) >= 20

    fresh = new_page()
    sign_in(fresh, {"username": "bob", "password": new_password})
    expect(fresh.locator(".whoami")).to_contain_text("operator")
    stale = new_page()
    stale.goto("/login")
    stale.get_by_label("Username").fill("bob")
    stale.get_by_label("Password").fill("Violet-tundra-compass-41")
    stale.get_by_role("button", name="Sign in").click()
    expect(stale.get_by_role("alert")).to_contain_text("Invalid username or password")


def test_a_forged_form_gets_the_csrf_failure_page(panel: PanelStack, page: Page) -> None:
    (server_id,) = panel.servers(1, name="edge-01")
    sign_in(page, panel.user("carl", "operator"), f"/servers/{server_id}/edit")
    page.locator("form.stacked input[name=csrf_token]").evaluate("node => { node.value = 'forged' }")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 400
    expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("did not come from Panel")


def test_paging_through_two_thousand_servers(panel: PanelStack, page: Page) -> None:
    panel.servers(2000)
    sign_in(page, panel.user("paula", "viewer"))
    page.get_by_label("Per page").select_option("200")
    page.get_by_role("button", name="Apply").click()
    seen: list[str] = []
    while True:
        names = page.locator("table.servers tbody th a").all_inner_texts()
        assert names, "an empty page"
        seen.extend(names)
        following = page.get_by_role("link", name="Next")
        if following.count() == 0:
            break
        following.click()
        expect(page.locator("table.servers tbody th a").first).not_to_have_text(names[0])
    assert seen == [f"node-{n:05d}" for n in range(2000)]
    page.get_by_role("link", name="Previous").click()
    expect(page.locator("table.servers tbody th a").first).to_have_text("node-01600")
    page.get_by_role("link", name="First").click()
    expect(page.locator("table.servers tbody th a").first).to_have_text("node-00000")


def test_times_are_shown_in_the_browser_zone_with_utc_on_hover(
    panel: PanelStack, new_page: Callable[..., Page]
) -> None:
    panel.servers(1, name="tz-01", address="127.0.0.1", port=1)
    page = new_page(timezone_id="Asia/Tokyo")
    sign_in(page, panel.user("tomo", "operator"))
    page.get_by_role("button", name="Check tz-01 now").click()
    stamp = page.get_by_role("row").filter(has_text="tz-01").locator("time")
    expect(stamp).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (GMT\+9|JST)$"))
    utc = stamp.get_attribute("title")
    assert utc is not None and utc.endswith(" UTC")
    local_hour = int(stamp.inner_text()[11:13])
    assert local_hour == (int(utc[11:13]) + 9) % 24


def test_keyboard_only_sign_in_and_navigation(panel: PanelStack, page: Page) -> None:
    who = panel.user("kim", "operator")
    page.goto("/login")
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus: typing can start at once
    page.keyboard.type(who["username"])
    page.keyboard.press("Tab")
    page.keyboard.type(who["password"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()  # the skip link moves focus past the navigation
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Add server")).to_be_focused()


@pytest.mark.parametrize(
    "path", ["/", "/servers/{id}", "/servers/new", "/jobs", "/audit", "/users", "/notifications"]
)
def test_pages_fit_a_375_px_phone(panel: PanelStack, new_page: Callable[..., Page], path: str) -> None:
    (server_id,) = panel.servers(1, name="phone-01", tags=["web", "eu-west-1"], owner="team-mobile")
    panel.notifications(server_id)  # the notifications page with channels and a long delivery table
    page = new_page(viewport=PHONE)
    sign_in(page, panel.user("pat", "admin"))
    page.goto(path.format(id=server_id))
    expect(page.locator("main h1").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 375 px"
