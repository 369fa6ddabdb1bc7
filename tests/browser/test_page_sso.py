"""Single sign-on in real Chromium: the login page's provider button, the provider's own login form, back on
the chat page connected; "Log out" ends the provider's session too (RP-initiated logout)."""

import pytest

from tests.browser.conftest import screenshot, watched_page
from tests.oidc import USERS, own_provider, start_app


provider = pytest.fixture(scope="module")(own_provider)


@pytest.fixture(scope="module")
def sso_app(provider, tmp_path_factory):
    daphne = start_app(provider, tmp_path_factory.mktemp("sso-app"))
    yield daphne
    daphne.stop()


@pytest.fixture
def sso_page(browser, sso_app, provider):
    provider.reset_users()
    context, page, errors = watched_page(browser, viewport={"width": 1200, "height": 800})
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def sign_in_at_provider(page, username: str):
    page.wait_for_selector("#username")
    page.fill("#username", username)
    page.fill("#password", USERS[username]["password"])
    page.click("#sign-in")


def test_sign_in_with_the_provider_and_log_out_of_both(sso_page, sso_app, provider):
    page = sso_page
    page.goto(f"{sso_app.url}/")
    assert page.url.startswith(f"{sso_app.url}/accounts/login/")
    button = page.locator("#sso-sign-in")
    assert button.inner_text() == "Sign in with Test IdP"
    assert page.locator("#id_password").count() == 1  # PASSWORD_LOGIN is on by default
    button.click()

    assert page.url.startswith(f"{provider.issuer}/interaction/")
    sign_in_at_provider(page, "alice")
    page.wait_for_selector("#prompt")
    page.wait_for_function("() => document.querySelector('#connection').dataset.state === 'connected'")
    assert page.url == f"{sso_app.url}/"
    assert page.locator(".user-nav .username").inner_text() == "alice"
    screenshot(page, "sso-signed-in")

    page.click(".logout-form button")
    page.click("#logout-yes")  # the provider's end_session_endpoint asks first
    page.wait_for_url(f"{sso_app.url}/accounts/login/")  # and sends the browser back
    page.click("#sso-sign-in")
    page.wait_for_selector("#username")  # the provider asks again: its session ended too
    assert page.url.startswith(f"{provider.issuer}/interaction/")


def test_without_passwords_only_the_provider_button_shows(browser, provider, tmp_path_factory):
    app = start_app(provider, tmp_path_factory.mktemp("sso-only"), PASSWORD_LOGIN="false")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{app.url}/admin/")
        assert page.url.startswith(f"{app.url}/accounts/login/")
        assert page.locator("#sso-sign-in").is_visible()
        assert page.locator("input[type=password]").count() == 0
        page.click("#sso-sign-in")
        sign_in_at_provider(page, "carol")  # in streamer-admins: staff
        page.wait_for_url(f"{app.url}/admin/")
        assert "Site administration" in page.content()
        context.close()
    finally:
        app.stop()
