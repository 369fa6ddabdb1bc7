"""Repeated wrong passwords lock that username from that address out for a while, on both login pages."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db.models import F
from django.test import AsyncClient, Client

from streamer.settings import BASE_DIR

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]
ELSEWHERE = "203.0.113.9"


def log_in(client, page, username, password, address="127.0.0.1"):
    return client.post(page, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def fail(client, page, username, times, address="127.0.0.1"):
    for _ in range(times):
        response = log_in(client, page, username, "wrong-password", address)
    return response


def assert_locked_out(response, minutes=15):
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert f"Try again in {minutes} minute" in page
    assert response["Retry-After"] == str(minutes * 60)
    assert "_auth_user_id" not in response.client.session


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_five_wrong_passwords_then_the_right_one_is_refused(client, staff, page):
    assert fail(client, page, "sam", 4).status_code == 200  # the form again, with its error
    assert_locked_out(fail(client, page, "sam", 1))
    assert_locked_out(log_in(client, page, "sam", "sam-password-1"))


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_four_wrong_passwords_still_let_the_right_one_in(client, staff, page):
    fail(client, page, "sam", 4)
    assert logged_in(log_in(client, page, "sam", "sam-password-1"))


def test_the_lockout_is_for_that_user_from_that_address_only(client, alice, bob):
    fail(client, "/accounts/login/", "alice", 5)
    assert_locked_out(log_in(client, "/accounts/login/", "alice", "alice-password-1"))
    assert logged_in(log_in(Client(), "/accounts/login/", "bob", "bob-password-1"))
    assert logged_in(log_in(Client(), "/accounts/login/", "alice", "alice-password-1", address=ELSEWHERE))


def test_after_the_cool_off_the_right_password_works(client, alice, settings):
    from axes.models import AccessAttempt

    settings.AXES_COOLOFF_TIME = timedelta(minutes=5)
    fail(client, "/accounts/login/", "alice", 5)
    assert log_in(client, "/accounts/login/", "alice", "alice-password-1").status_code == 429
    # Five minutes pass (the failures are dated back, not slept through: a loaded machine's slow password
    # hashing used to outlast a one-second cool-off before the lockout was even checked).
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=5, seconds=1))
    assert logged_in(log_in(client, "/accounts/login/", "alice", "alice-password-1"))


def test_the_limit_and_the_wait_come_from_settings(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)
    assert_locked_out(fail(client, "/accounts/login/", "alice", 2), minutes=30)


def test_staff_see_the_lockout_in_admin_and_can_lift_it(client, alice, staff):
    fail(client, "/accounts/login/", "alice", 5)
    admin = Client()
    admin.force_login(staff)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode() and "127.0.0.1" in listing.content.decode()

    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="alice")
    assert attempt.failures_since_start == 5
    lifted = admin.post("/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"})
    assert lifted.status_code == 302 and not AccessAttempt.objects.exists()
    assert logged_in(log_in(client, "/accounts/login/", "alice", "alice-password-1"))


def test_lockout_under_asgi(alice):
    """As daphne serves it: the asynchronous middleware path."""

    async def attempts():
        client = AsyncClient()
        for _ in range(5):
            await client.post("/accounts/login/", {"username": "alice", "password": "wrong-password"})
        return await client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})

    response = async_to_sync(attempts)()
    assert response.status_code == 429
    assert "Try again in 15 minutes" in response.content.decode()


@pytest.mark.parametrize(("env", "printed"), [
    ({}, "5 0:15:00"),
    ({"LOGIN_FAILURE_LIMIT": "10", "LOGIN_COOLOFF_MINUTES": "2.5"}, "10 0:02:30"),
    ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT=0 is below the minimum 1"),
    ({"LOGIN_COOLOFF_MINUTES": "soon"}, "LOGIN_COOLOFF_MINUTES"),
])
def test_limit_and_wait_are_read_from_the_environment(tmp_path, env, printed):
    script = "import streamer.settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)"
    result = subprocess.run([sys.executable, "-c", script], env={"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path)} | env,
                            cwd=BASE_DIR, capture_output=True, text=True)
    assert printed in result.stdout + result.stderr
