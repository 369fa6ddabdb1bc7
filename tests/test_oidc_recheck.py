"""Re-checking a signed-in session with the provider (chat.oidc.recheck), against the real provider, which
rotates refresh tokens and revokes the grant when a spent one is used again."""

import threading
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.db import connection

from chat.oidc import discovery, recheck
from tests.oidc import oidc, oidc_provider, sign_in  # noqa: F401 (fixtures)
from tests.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)  # threads see what the test commits


def signed_in(client, provider, username="alice") -> str:
    sign_in(client, provider, username)
    return client.session.session_key


def store(session_key):
    return import_module(django_settings.SESSION_ENGINE).SessionStore(session_key)


def make_due(session_key) -> str:
    """The session's check falls due now; its refresh token."""
    session = store(session_key)
    session["oidc_checked_at"] = 0
    session.save()
    return session["oidc_refresh_token"]


def test_a_due_session_spends_its_refresh_token_for_a_new_one(client, oidc):
    key = signed_in(client, oidc)
    spent = make_due(key)
    assert recheck.recheck(key)
    assert store(key)["oidc_refresh_token"] not in ("", spent)
    assert not recheck.due(store(key))


def test_two_threads_rechecking_one_session_spend_its_token_once(client, oidc):
    key = signed_in(client, oidc)
    make_due(key)
    start, results = threading.Barrier(2), []

    def check():
        start.wait()
        try:
            results.append(recheck.recheck(key))
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [True, True]  # a token spent twice would have been refused, and the grant revoked
    make_due(key)
    assert recheck.recheck(key) and client.get("/").status_code == 200


def test_a_page_request_of_a_user_removed_at_the_provider_goes_to_the_login_page(client, oidc):
    key = signed_in(client, oidc)
    oidc.remove_user("alice")
    assert client.get("/").status_code == 200  # not due yet
    make_due(key)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not Session.objects.filter(pk=key).exists()


def test_an_unreachable_provider_ends_no_session(client, oidc, settings):
    key = signed_in(client, oidc)
    make_due(key)
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    discovery.forget()
    assert recheck.recheck(key)
    assert client.get("/").status_code == 200


def test_groups_and_staff_follow_the_provider_at_the_recheck(client, oidc, django_user_model):
    key = signed_in(client, oidc)  # alice, in engineering
    oidc.change_user("alice", groups=["finance", "streamer-admins"])
    make_due(key)
    assert recheck.recheck(key)
    alice = django_user_model.objects.get(username="alice")
    assert set(alice.groups.values_list("name", flat=True)) == {"finance", "streamer-admins"} and alice.is_staff
    oidc.change_user("alice", groups=[])
    make_due(key)
    assert recheck.recheck(key)
    alice.refresh_from_db()
    assert not alice.groups.exists() and not alice.is_staff


def test_a_session_whose_account_holds_another_subject_is_ended(client, oidc, django_user_model):
    from chat.models import OidcIdentity

    key = signed_in(client, oidc)
    OidcIdentity.objects.filter(user__username="alice").update(subject="someone-else")
    make_due(key)
    assert not recheck.recheck(key)
    assert not Session.objects.filter(pk=key).exists()
