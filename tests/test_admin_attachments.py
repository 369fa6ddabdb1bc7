"""Staff see the files sent with each message on its admin page and download them there; the message list
filters messages with (or without) attachments."""

import re

import pytest
from django.contrib.auth.models import Permission

from chat.models import Conversation, Message
from tests.attachment_files import attachment_storage, client_for, image_bytes, pdf_bytes, stored

pytestmark = pytest.mark.django_db
__all__ = ["attachment_storage"]


def message_for(user, prompt: str, title: str = "Files") -> Message:
    conversation = Conversation.objects.create(user=user, title=title)
    return Message.objects.create(conversation=conversation, user=user, prompt=prompt, response="Read it.",
                                  status="complete", model_key="m", model_id="m", provider="bedrock-converse",
                                  client_request_id=prompt)


@pytest.fixture
def sent(alice, attachment_storage):
    """Alice's message with a PDF (a name with markup in it) and a PNG; and one without files."""
    with_files = message_for(alice, "Summarise these")
    pdf, png = pdf_bytes("Quarterly figures."), image_bytes("PNG")
    for name, data in (("<b>Q3</b> report.pdf", pdf), ("chart.png", png)):
        attachment = stored(alice, name, data)
        attachment.message, attachment.conversation = with_files, with_files.conversation
        attachment.save()
    without = message_for(alice, "Just text", "Plain")
    return with_files, without, {"pdf": pdf, "png": png}


@pytest.fixture
def reviewer(django_user_model):
    """Staff who may view messages, but has no permission on attachments themselves."""
    user = django_user_model.objects.create_user("rita", password="rita-password-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_message", "view_conversation"]))
    return user


def download_links(html: str) -> dict[str, str]:
    return {re.sub(r"<[^>]+>", "", name): href for href, name in re.findall(r'<a href="([^"]+)" download>(.*?)</a>', html)}


def test_the_message_page_lists_its_files_with_download_links(sent, reviewer):
    message, _, data = sent
    page = client_for(reviewer).get(f"/admin/chat/message/{message.pk}/change/").content.decode()
    links = download_links(page)
    assert set(links) == {"&lt;b&gt;Q3&lt;/b&gt; report.pdf", "chart.png"}  # the name is text, never markup
    assert "<b>Q3</b>" not in page
    assert "1 page" in page and "32×24 px" in page and "PDF" in page and "PNG" in page

    for name, kind in (("chart.png", "png"), ("&lt;b&gt;Q3&lt;/b&gt; report.pdf", "pdf")):
        response = client_for(reviewer).get(links[name])
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == data[kind]
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Content-Type"] == {"png": "image/png", "pdf": "application/pdf"}[kind]
        assert response["X-Content-Type-Options"] == "nosniff"


def test_a_message_without_files_says_so(sent, reviewer):
    _, without, _ = sent
    page = client_for(reviewer).get(f"/admin/chat/message/{without.pk}/change/").content.decode()
    assert "— (none)" in page and download_links(page) == {}


def test_a_download_needs_the_message_it_was_sent_with(sent, reviewer, alice):
    message, without, _ = sent
    attachment = message.attachments.first()
    assert client_for(reviewer).get(f"/admin/chat/message/{without.pk}/attachments/{attachment.pk}/").status_code == 404
    assert client_for(reviewer).get(f"/admin/chat/message/999999/attachments/{attachment.pk}/").status_code == 404
    # Not staff: the admin's login page, not the file.
    response = client_for(alice).get(f"/admin/chat/message/{message.pk}/attachments/{attachment.pk}/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_the_view_permission_cannot_download(sent, django_user_model):
    message, _, _ = sent
    clerk = django_user_model.objects.create_user("cleo", password="cleo-password-1", is_staff=True)
    attachment = message.attachments.first()
    assert client_for(clerk).get(f"/admin/chat/message/{message.pk}/attachments/{attachment.pk}/").status_code in (403, 404)


def test_the_message_list_filters_by_attachments(sent, reviewer):
    message, without, _ = sent

    def listed(query: str) -> set[int]:
        page = client_for(reviewer).get(f"/admin/chat/message/?{query}").content.decode()
        return {int(pk) for pk in re.findall(r'/admin/chat/message/(\d+)/change/', page)}

    assert listed("attachments=yes") == {message.pk}  # once, though it has two files
    assert listed("attachments=no") == {without.pk}
    assert listed("") == {message.pk, without.pk}
    page = client_for(reviewer).get("/admin/chat/message/").content.decode()
    assert "With attachments" in page
