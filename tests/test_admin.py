"""Staff review every prompt and answer in admin; nobody adds or edits them there, only superusers delete."""

import pytest
from django.contrib.auth.models import Permission

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(alice, bob):
    first = Conversation.objects.create(user=alice, title="Volcanoes")
    Message.objects.create(
        conversation=first, user=alice, prompt="Why do volcanoes erupt?", response="Magma pressure.",
        status="complete", model_key="m", model_id="m", provider="bedrock-converse", client_request_id="1",
        input_tokens=9, output_tokens=3, ttft_ms=210, duration_ms=900,
    )
    second = Conversation.objects.create(user=bob, title="Tides")
    return Message.objects.create(
        conversation=second, user=bob, prompt="What causes tides?", response="The moon",
        status="stopped", model_key="m", model_id="m", provider="bedrock-converse", client_request_id="2",
    )


@pytest.fixture
def reviewer(django_user_model):
    """Staff who may view history but is not a superuser."""
    user = django_user_model.objects.create_user("rita", password="rita-password-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_message", "view_conversation", "change_message", "change_conversation",
        "add_message", "add_conversation", "delete_message", "delete_conversation",
    ]))
    return user


def admin_urls(message):
    return [
        "/admin/",
        "/admin/chat/",
        "/admin/chat/message/",
        f"/admin/chat/message/{message.pk}/change/",
        f"/admin/chat/message/{message.pk}/delete/",
        "/admin/chat/message/dashboard/",
        "/admin/chat/message/export.csv",
        "/admin/chat/message/export.jsonl?status__exact=stopped",
        "/admin/chat/conversation/",
        f"/admin/chat/conversation/{message.conversation_id}/change/",
    ]


def test_staff_sees_every_message_with_its_details(client, staff, history):
    client.force_login(staff)
    page = client.get("/admin/chat/message/")
    assert page.status_code == 200
    html = page.content.decode()
    for expected in ("Why do volcanoes erupt?", "What causes tides?", "alice", "bob", "210 ms", "0.90 s",
                     'status-badge status-stopped">stopped', "Magma pressure.", "Volcanoes", "Tides"):
        assert expected in html


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_non_staff_are_sent_to_login_from_every_history_page(client, alice, history, who):
    if who == "alice":
        client.force_login(alice)
    for url in admin_urls(history):
        page = client.get(url)
        assert page.status_code == 302, url
        assert page["Location"].startswith("/admin/login/"), url
    assert Message.objects.count() == 2


def test_nobody_can_add_or_edit_a_message(client, staff, reviewer, history):
    for user in (staff, reviewer):
        client.force_login(user)
        assert client.get("/admin/chat/message/add/").status_code == 403
        assert client.get("/admin/chat/conversation/add/").status_code == 403
        detail = client.get(f"/admin/chat/message/{history.pk}/change/")
        assert detail.status_code == 200
        assert b'name="_save"' not in detail.content and b"<textarea" not in detail.content
        client.post(f"/admin/chat/message/{history.pk}/change/", {"prompt": "tampered", "status": "complete"})
        client.post(f"/admin/chat/conversation/{history.conversation_id}/change/", {"title": "tampered"})
        history.refresh_from_db()
        assert history.prompt == "What causes tides?" and history.status == "stopped"
        assert Conversation.objects.get(pk=history.conversation_id).title == "Tides"
        assert Message.objects.count() == 2


def test_only_superusers_may_delete(client, reviewer, staff, history):
    client.force_login(reviewer)
    assert client.get(f"/admin/chat/message/{history.pk}/delete/").status_code == 403
    assert client.post(f"/admin/chat/conversation/{history.conversation_id}/delete/", {"post": "yes"}).status_code == 403
    assert b"Delete selected" not in client.get("/admin/chat/message/").content
    assert Message.objects.filter(pk=history.pk).exists()

    client.force_login(staff)
    assert client.get(f"/admin/chat/message/{history.pk}/delete/").status_code == 200
    client.post(f"/admin/chat/conversation/{history.conversation_id}/delete/", {"post": "yes"})
    assert not Conversation.objects.filter(pk=history.conversation_id).exists()
    assert not Message.objects.filter(pk=history.pk).exists()
    assert Message.objects.count() == 1


def test_a_streaming_message_cannot_be_deleted(client, staff, history):
    Message.objects.filter(pk=history.pk).update(status="streaming")
    client.force_login(staff)
    assert client.get(f"/admin/chat/message/{history.pk}/delete/").status_code == 403
    assert client.get(f"/admin/chat/conversation/{history.conversation_id}/delete/").status_code == 403
    done = Message.objects.exclude(pk=history.pk).get()
    page = client.post("/admin/chat/message/", {"action": "delete_selected", "_selected_action": [history.pk, done.pk], "post": "yes"},
                       follow=True)
    assert "Skipped 1 still streaming" in page.content.decode()
    assert list(Message.objects.values_list("pk", flat=True)) == [history.pk]


def test_conversation_page_lists_its_messages_in_order_and_the_users_delete(client, staff, alice, history):
    conversation = Conversation.objects.create(user=alice, title="Three turns")
    for n, prompt in enumerate(["First question", "Second question", "Third question"]):
        Message.objects.create(conversation=conversation, user=alice, prompt=prompt, response=f"Answer {n}", status="complete",
                               model_key="m", model_id="m", provider="local", client_request_id=f"t{n}")
    client.force_login(staff)
    html = client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    positions = [html.index(prompt) for prompt in ("First question", "Second question", "Third question")]
    assert positions == sorted(positions)
    assert "No: the user still sees this conversation." in html
    assert "Why do volcanoes erupt?" not in html

    Conversation.objects.filter(pk=conversation.pk).update(deleted_at="2025-03-04T05:06:00Z")
    html = client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert "Yes, on 2025-03-04 05:06." in html
    listing = client.get("/admin/chat/conversation/", {"deleted": "yes"}).content.decode()
    assert "Three turns" in listing and "Volcanoes" not in listing
