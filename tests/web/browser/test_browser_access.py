"""The page behind an access token in headless Chromium: the login form, the cookie it
sets, and a Retry that still passes the cross-site checks with it."""

from __future__ import annotations

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web.server import start_in_thread
from tests.helpers import item_status

TOKEN = "a-long-test-token-0123456789"


def test_login_with_the_token_then_retry(lab: Runtime, browser_factory) -> None:
    server = start_in_thread(lambda: Runtime(lab.home), token=TOKEN)
    try:
        b = browser_factory(server.url)
        b.allow("status of 401")  # the login page is answered with 401 until the token is given
        b.open("/problems")
        b.wait("the login form", lambda: b.find_all("input[name=token]"))
        assert "Access token needed" in b.find("h1").text
        assert b.find_all("tr.failed") == []  # nothing of the agent without the token
        b.find("input[name=token]").send_keys("not-the-token-at-all")
        b.click_to_load(b.find("main form button"))
        assert "not the access token" in b.find("main").text
        b.screenshot("login-refused")

        b.find("input[name=token]").send_keys(TOKEN)
        b.click_to_load(b.find("main form button"))
        assert b.find("h1").text == "Problems"
        assert b.driver.current_url == server.url + "/problems"  # back where it was going
        cookie = b.driver.get_cookie("etiket_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert TOKEN not in b.driver.page_source  # the token is never shown on a page
        b.screenshot("problems-after-login")

        b.click_to_load(b.find("tr.failed button"))
        assert "1 item(s) queued again" in b.find("main").text
        assert item_status(lab, "broken") == "pending"
    finally:
        server.stop()
