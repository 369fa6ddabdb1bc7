"""`make run` makes sure an admin account exists, printing a first-run password once."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run_ensure_admin() -> str:
    out = io.StringIO()
    call_command("ensure_admin", "--url", "http://127.0.0.1:8000/", stdout=out)
    return out.getvalue()


def test_first_run_creates_admin_with_a_random_password_printed_once(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    output = run_ensure_admin()
    password = output.split("Password: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert "http://127.0.0.1:8000/" in output
    assert run_ensure_admin() == ""  # never again


def test_superuser_from_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-9")
    monkeypatch.delenv("DJANGO_SUPERUSER_EMAIL", raising=False)  # optional
    run_ensure_admin()
    run_ensure_admin()  # a second run with the account in place changes nothing
    root = get_user_model().objects.get(username="root")
    assert root.is_superuser and root.check_password("a-long-password-9")
    assert not get_user_model().objects.filter(username="admin").exists()
