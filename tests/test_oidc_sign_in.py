"""Signing in through a real OpenID Connect provider (tests/oidc_provider): the authorization code flow with
PKCE, nonce and state, users created at first sign-in, and their groups and staff flag synced each time."""

from urllib.parse import parse_qs, urlsplit, urlunsplit, urlencode

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.oidc import Person, oidc, oidc_provider, path_of, sign_in  # noqa: F401 (fixtures)
from tests.servers import free_port

pytestmark = pytest.mark.django_db


def signed_in_as(client) -> str | None:
    page = client.get("/")
    if page.status_code != 200:
        return None
    return page.wsgi_request.user.get_username()


def group_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_without_oidc_the_login_page_is_unchanged(client):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_the_login_page_offers_the_provider_and_passwords(client, oidc):
    page = client.get("/accounts/login/?next=/api/models/").content.decode()
    assert "Sign in with Test IdP" in page
    assert 'href="/oidc/authenticate/?next=/api/models/"' in page
    assert 'name="password"' in page


def test_first_sign_in_creates_the_user_with_the_groups_of_the_claim(client, oidc, django_user_model):
    response = sign_in(client, oidc, "alice")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "alice"
    alice = django_user_model.objects.get(username="alice")
    assert alice.email == "alice@example.com"
    assert group_names(alice) == {"engineering"}
    assert not alice.is_staff and not alice.is_superuser
    assert not alice.has_usable_password()


def test_the_next_page_is_kept_through_the_provider(client, oidc):
    response = sign_in(client, oidc, "bob", next_url="/api/models/")
    assert response["Location"] == "/api/models/"


def test_the_authorization_request_carries_pkce_nonce_and_state(client, oidc):
    start = client.get("/oidc/authenticate/")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert start["Location"].startswith(f"{oidc.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["nonce"][0]) >= 32 and len(query["state"][0]) >= 32
    assert query["scope"] == ["openid email profile groups"]
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]


def test_groups_are_synced_at_every_sign_in_added_and_removed(oidc, django_user_model):
    sign_in(Client(), oidc, "alice")
    oidc.change_user("alice", groups=["finance", "streamer-admins"])
    sign_in(Client(), oidc, "alice")
    alice = django_user_model.objects.get(username="alice")
    assert group_names(alice) == {"finance", "streamer-admins"}
    assert alice.is_staff  # streamer-admins is in OIDC_STAFF_GROUPS

    oidc.change_user("alice", groups=["engineering"])
    sign_in(Client(), oidc, "alice")
    alice.refresh_from_db()
    assert group_names(alice) == {"engineering"}
    assert not alice.is_staff
    assert Group.objects.filter(name="finance").exists()  # the group stays for others; alice left it


def test_a_staff_group_member_reaches_the_admin(client, oidc):
    sign_in(client, oidc, "carol")
    assert client.get("/admin/").status_code == 200


def test_a_wrong_state_is_refused(client, oidc, django_user_model):
    start = client.get("/oidc/authenticate/")
    callback = urlsplit(Person(oidc).callback_for(start["Location"], "alice"))
    query = parse_qs(callback.query)
    query["state"] = ["x" * 32]
    forged = urlunsplit(("", "", callback.path, urlencode(query, doseq=True), ""))
    assert client.get(forged).status_code == 400
    assert signed_in_as(client) is None
    assert not django_user_model.objects.filter(username="alice").exists()


def test_a_callback_is_used_once(client, oidc):
    start = client.get("/oidc/authenticate/")
    callback = path_of(Person(oidc).callback_for(start["Location"], "alice"))
    assert client.get(callback).status_code == 302
    client.post("/accounts/logout/")
    assert client.get(callback).status_code in (302, 400)
    assert signed_in_as(client) is None


def test_a_tampered_id_token_is_refused(client, oidc, django_user_model):
    start = client.get("/oidc/authenticate/")
    callback = path_of(Person(oidc).callback_for(start["Location"], "alice"))
    oidc.tamper_next_id_token()  # its claims say groups: admins, under the original signature
    assert client.get(callback).status_code == 400
    assert signed_in_as(client) is None
    assert not Group.objects.filter(name="admins").exists()
    assert not django_user_model.objects.filter(username="alice").exists()


def test_a_user_removed_at_the_provider_cannot_sign_in(client, oidc, django_user_model):
    sign_in(Client(), oidc, "bob")
    oidc.remove_user("bob")
    start = client.get("/oidc/authenticate/")
    person = Person(oidc)
    refused = person.log_in(person.at_provider(start["Location"]), "bob", "bob-idp-pass")
    assert "Unknown user or wrong password" in refused.text
    assert signed_in_as(client) is None


def test_a_user_deactivated_here_cannot_sign_in_through_the_provider(client, oidc, django_user_model):
    sign_in(Client(), oidc, "alice")
    django_user_model.objects.filter(username="alice").update(is_active=False)
    response = sign_in(client, oidc, "alice")
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert signed_in_as(client) is None
    assert "did not succeed" in client.get(response["Location"]).content.decode()


def test_an_unreachable_provider_is_a_clear_page(client, oidc, settings):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    page = response.content.decode()
    assert "Single sign-on unavailable" in page and "/.well-known/openid-configuration" in page


def test_logout_ends_the_provider_session_too(client, oidc):
    start = client.get("/oidc/authenticate/")
    person = Person(oidc)
    client.get(path_of(person.callback_for(start["Location"], "alice")))
    assert signed_in_as(client) == "alice"

    # Signed in at the provider: a second sign-in goes straight back without its login form.
    again = person.at_provider(client.get("/oidc/authenticate/")["Location"])
    assert again.is_redirect and again.headers["Location"].startswith("http://testserver/oidc/callback/")

    logout = client.post("/accounts/logout/")
    assert signed_in_as(client) is None
    end_session = urlsplit(logout["Location"])
    assert f"{end_session.scheme}://{end_session.netloc}{end_session.path}" == f"{oidc.issuer}/session/end"
    query = parse_qs(end_session.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"] and query["id_token_hint"]

    confirm = person.at_provider(logout["Location"])  # the provider's "sign out?" form, submitted
    action = confirm.text.split('action="', 1)[1].split('"', 1)[0]
    xsrf = confirm.text.split('name="xsrf" value="', 1)[1].split('"', 1)[0]
    done = person.browser.post(action if action.startswith("http") else f"{oidc.issuer}{action}",
                               data={"xsrf": xsrf, "logout": "yes"}, allow_redirects=False, timeout=10)
    assert done.headers["Location"] == "http://testserver/accounts/login/"

    # The provider's session is over: signing in asks for the password again.
    page = person.at_provider(client.get("/oidc/authenticate/")["Location"])
    assert not page.is_redirect and 'name="password"' in page.text


def test_a_discovery_document_of_another_issuer_is_refused(client, oidc, settings):
    settings.OIDC_ISSUER = f"{oidc.issuer}/"  # its document names the issuer without the slash
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    assert "names the issuer" in response.content.decode()


def test_the_account_follows_its_subject_when_the_provider_renames_it(oidc, django_user_model):
    sign_in(Client(), oidc, "bob")
    bob = django_user_model.objects.get(username="bob")
    oidc.change_user("bob", preferred_username="robert")
    client = Client()
    assert sign_in(client, oidc, "bob")["Location"] == "/"
    assert signed_in_as(client) == "robert"
    assert django_user_model.objects.get(pk=bob.pk).username == "robert"
    assert not django_user_model.objects.filter(username="bob").exists()


def test_another_subject_cannot_take_over_an_account_by_its_name(client, oidc, django_user_model):
    """mallory's provider account carries the username claim "alice", after alice's account was linked."""
    sign_in(Client(), oidc, "alice")
    oidc.change_user("carol", preferred_username="alice")  # carol's subject, alice's name
    response = sign_in(client, oidc, "carol")
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert signed_in_as(client) is None
    alice = django_user_model.objects.get(username="alice")
    assert group_names(alice) == {"engineering"} and not alice.is_staff  # carol's groups were not given


def test_a_local_superuser_is_never_taken_over_by_name(client, oidc, django_user_model):
    admin = django_user_model.objects.create_superuser("carol", password="local-admin-pass-1")
    response = sign_in(client, oidc, "carol")
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert signed_in_as(client) is None
    admin.refresh_from_db()
    assert admin.check_password("local-admin-pass-1") and admin.is_superuser and group_names(admin) == set()


def test_an_account_made_before_single_sign_on_is_linked_once_then_kept(oidc, django_user_model, settings):
    existing = django_user_model.objects.create_user("alice", password="alice-password-1")
    client = Client()
    assert sign_in(client, oidc, "alice")["Location"] == "/"
    assert signed_in_as(client) == "alice" and client.get("/").wsgi_request.user.pk == existing.pk
    assert existing.oidc_identity.subject == "alice"
    settings.OIDC_LINK_EXISTING_USERS = False  # linking is only for an account's first sign-in: kept after
    assert sign_in(Client(), oidc, "alice")["Location"] == "/"
    django_user_model.objects.create_user("bob", password="bob-password-1")
    assert sign_in(Client(), oidc, "bob")["Location"] == "/accounts/login/?sso=failed"
