"""Logging out in another tab ends this page's session: it goes to the login page, which brings the person
back to the conversation they were in, instead of reconnecting over and over."""

from urllib.parse import parse_qs, urlsplit

from tests.browser.conftest import send, wait_status


def test_logging_out_in_another_tab_sends_the_page_to_the_login_page(page, live_app):
    send(page, "Hello")
    wait_status(page, "complete")
    conversation = parse_qs(urlsplit(page.url).query)["c"][0]
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket.url))  # any reconnection from now on

    other_tab = page.context.new_page()
    other_tab.goto(f"{live_app.url}/")
    other_tab.click(".logout-form button")
    other_tab.wait_for_url(lambda url: "/accounts/login/" in url)  # its own socket may send it there first

    page.wait_for_url("**/accounts/login/?next=*", timeout=10_000)
    assert parse_qs(urlsplit(page.url).query)["next"] == [f"/?c={conversation}"]
    assert page.locator("#id_username").is_visible()
    page.wait_for_timeout(1500)  # longer than the first reconnect delay
    assert sockets == []
