"""Passwords beside single sign-on: PASSWORD_LOGIN=false closes every password door (fail closed), login
throttling still guards passwords and leaves the provider's callback alone, and the OIDC settings refuse
values they cannot use."""

import os
import subprocess
import sys

import pytest
from django.test import Client

from streamer.settings import BASE_DIR
from tests.oidc import oidc, oidc_provider, sign_in  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def passwords_off(oidc, settings):
    settings.PASSWORD_LOGIN = False
    settings.AUTHENTICATION_BACKENDS = [b for b in settings.AUTHENTICATION_BACKENDS if not b.endswith("ModelBackend")]
    return oidc


def test_without_passwords_the_login_page_has_only_the_provider(client, passwords_off):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Test IdP" in page
    assert 'name="password"' not in page


@pytest.mark.parametrize("page", ["/accounts/login/", "/admin/login/"])
def test_without_passwords_a_right_password_is_refused(client, passwords_off, staff, page):
    response = client.post(page, {"username": "sam", "password": "sam-password-1", "next": "/"})
    assert response.status_code == 403
    assert "Password sign-in is turned off" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_without_passwords_the_admin_login_sends_to_the_provider_button(client, passwords_off):
    response = client.get("/admin/login/?next=/admin/chat/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=%2Fadmin%2Fchat%2F"


def test_without_passwords_no_backend_checks_a_password(passwords_off, staff):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    assert authenticate(RequestFactory().post("/accounts/login/"), username="sam", password="sam-password-1") is None


def test_without_passwords_the_provider_still_signs_in(client, passwords_off):
    assert sign_in(client, passwords_off, "alice")["Location"] == "/"
    assert client.get("/").status_code == 200


def test_with_oidc_password_lockout_still_works_and_the_provider_is_not_locked(client, oidc, alice):
    for _ in range(5):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong-password"})
    locked = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert locked.status_code == 429
    # The same address signs in through the provider: the callback is neither throttled nor counted.
    signed = Client()
    assert sign_in(signed, oidc, "alice")["Location"] == "/"
    assert signed.get("/").wsgi_request.user.username == "alice"
    from axes.models import AccessAttempt

    # No attempt without a username was counted; alice's success here forgets her failures (AXES_RESET_ON_SUCCESS).
    assert not AccessAttempt.objects.exists()


@pytest.mark.parametrize(("env", "printed"), [
    ({}, "False True SSO openid email profile"),
    ({"OIDC_ISSUER": "https://idp.example.com/realms/team", "OIDC_CLIENT_ID": "streamer", "OIDC_CLIENT_SECRET": "s",
      "PASSWORD_LOGIN": "false", "OIDC_PROVIDER_NAME": "Keycloak", "OIDC_SCOPES": "openid,email groups"},
     "True False Keycloak openid email groups"),
    ({"OIDC_ISSUER": "http://idp.example.com", "OIDC_CLIENT_ID": "a", "OIDC_CLIENT_SECRET": "b"}, "must use https"),
    ({"OIDC_ISSUER": "idp.example.com", "OIDC_CLIENT_ID": "a", "OIDC_CLIENT_SECRET": "b"}, "is not an issuer URL"),
    ({"OIDC_ISSUER": "https://idp.example.com"}, "set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
    ({"OIDC_CLIENT_ID": "a"}, "without OIDC_ISSUER"),
    ({"PASSWORD_LOGIN": "false"}, "PASSWORD_LOGIN=false needs OIDC_ISSUER"),
    ({"PASSWORD_LOGIN": "nope"}, "PASSWORD_LOGIN"),
    ({"OIDC_SCOPES": "email profile"}, "must include openid"),
    ({"OIDC_GROUPS_CLAIM": "my groups"}, "is not a claim name"),
    ({"OIDC_PROVIDER_NAME": "x" * 61}, "1 to 60 characters"),
    ({"OIDC_RECHECK_SECONDS": "0"}, "below the minimum"),
])
def test_the_settings_are_read_from_the_environment(tmp_path, env, printed):
    script = ("import streamer.settings as s; print(s.OIDC_ENABLED, s.PASSWORD_LOGIN, s.OIDC_PROVIDER_NAME, s.OIDC_RP_SCOPES)")
    result = subprocess.run([sys.executable, "-c", script], env={"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path)} | env,
                            cwd=BASE_DIR, capture_output=True, text=True)
    assert printed in result.stdout + result.stderr
