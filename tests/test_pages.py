"""Logging in, and the chat page behind it."""

import pytest

pytestmark = pytest.mark.django_db


def test_chat_page_requires_login(client):
    page = client.get("/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")


def test_user_logs_in_and_sees_the_chat_page(client, alice, settings):
    settings.BEDROCK_MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
    login = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert login.status_code == 302 and login["Location"] == "/"
    page = client.get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="prompt"' in html and 'id="go"' in html
    assert "anthropic.claude-3-haiku-20240307-v1:0" in html
    assert "No model is configured" not in html
    assert client.get("/static/chat/chat.js").status_code == 200


def test_wrong_password_is_refused_with_a_message(client, alice):
    page = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert page.status_code == 200
    assert "Please enter a correct username and password" in page.content.decode()


def test_page_says_when_no_model_is_configured(client, alice, settings):
    settings.BEDROCK_MODEL_ID = ""
    settings.LOCAL_MODEL_PATH = ""
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "No model is configured" in html


def test_logout_ends_the_session(client, alice):
    client.force_login(alice)
    page = client.post("/accounts/logout/")
    assert page.status_code == 302
    assert client.get("/").status_code == 302
