"""Every page carries a Content-Security-Policy with no inline script allowed, and renders nothing it forbids."""

import re

import pytest
from django.test import Client

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

EXPECTED = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";") if part.strip())}


def assert_strict(response):
    directives = policy(response)
    assert {name: directives.get(name) for name in EXPECTED} == EXPECTED
    style = directives["style-src"]
    assert style[0] == "'self'" and all(source.startswith("'nonce-") for source in style[1:])
    assert not any("unsafe" in source for sources in directives.values() for source in sources)


def assert_nothing_inline_is_blocked(response):
    """What the policy would block does not appear: every script is a file (or JSON data), every <style>
    carries this response's nonce, and no element has an inline handler or style attribute."""
    html = response.content.decode()
    nonces = {source[len("'nonce-"):-1] for source in policy(response)["style-src"][1:]}
    for attributes in re.findall(r"<script\b([^>]*)>", html):
        assert "src=" in attributes or 'type="application/json"' in attributes, f"inline script: <script{attributes}>"
    for attributes in re.findall(r"<style\b([^>]*)>", html):
        assert re.search(r'nonce="([^"]+)"', attributes) and re.search(r'nonce="([^"]+)"', attributes)[1] in nonces
    assert not re.search(r"<[a-z][^>]*\s(on[a-z]+|style)\s*=", html), "an inline handler or style attribute"


@pytest.fixture
def history(alice):
    conversation = Conversation.objects.create(user=alice, title="CSP")
    return Message.objects.create(conversation=conversation, user=alice, prompt="hi", response="**Hello**",
                                  status="complete", model_key="local", model_id="local", provider="local",
                                  client_request_id="c1")


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_login_page(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert_strict(response)
    assert_nothing_inline_is_blocked(response)


def test_chat_page(alice):
    response = as_user(alice).get("/")
    assert response.status_code == 200
    assert_strict(response)
    assert_nothing_inline_is_blocked(response)


ADMIN_PAGES = [
    "/admin/login/",
    "/admin/",
    "/admin/chat/message/",
    "/admin/chat/message/dashboard/",
    "/admin/chat/conversation/",
    "/admin/chat/conversation/{conversation}/change/",
    "/admin/chat/catalogentry/",
    "/admin/chat/catalogentry/add/",
    "/admin/axes/accessattempt/",
    "/admin/auth/user/",
    "/admin/auth/user/{user}/change/",
    "/admin/chat/message/{message}/change/",
]


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages(staff, history, url):
    client = as_user(staff) if url != "/admin/login/" else Client()
    response = client.get(url.format(conversation=history.conversation_id, message=history.pk, user=staff.pk))
    assert response.status_code == 200
    assert_strict(response)
    assert_nothing_inline_is_blocked(response)


def test_style_nonce_is_new_for_every_response(staff, history):
    client = as_user(staff)
    first, second = (policy(client.get("/admin/chat/message/"))["style-src"] for _ in range(2))
    assert len(first) == len(second) == 2 and first[1] != second[1]


def test_json_and_error_responses_carry_it_too(alice, client):
    assert_strict(as_user(alice).get("/api/models/"))
    assert_strict(client.get("/no-such-page/"))


def test_lockout_page(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 1
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert_strict(response)
    assert_nothing_inline_is_blocked(response)
