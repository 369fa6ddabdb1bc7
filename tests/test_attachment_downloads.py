"""GET /api/attachments/<id>/: the owner (and staff) download the exact bytes, always as a download with our
own content type; anyone else gets the same 404 as for a missing id. DELETE removes an upload not yet sent."""

import pytest

from chat.models import Attachment, Conversation, Message
from tests.attachment_files import attachment_storage, client_for, image_bytes, pdf_bytes, upload

pytestmark = pytest.mark.django_db
__all__ = ["attachment_storage"]


def uploaded(user, name, data) -> int:
    response = upload(client_for(user), name, data)
    assert response.status_code == 201
    return response.json()["id"]


def test_the_owner_downloads_the_exact_bytes_as_an_attachment(alice, attachment_storage):
    data = pdf_bytes("Owner only.")
    attachment_id = uploaded(alice, "Plan «v2».pdf", data)
    response = client_for(alice).get(f"/api/attachments/{attachment_id}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=utf-8''Plan%20%C2%ABv2%C2%BB.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_html_is_never_served_inline(alice, attachment_storage):
    page = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    attachment_id = uploaded(alice, "page.html", page)
    response = client_for(alice).get(f"/api/attachments/{attachment_id}/")
    assert response["Content-Type"] == "text/html"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_content_type_is_ours_not_the_browsers(alice, attachment_storage):
    response = upload(client_for(alice), "photo.png", image_bytes("PNG"), content_type="text/html")
    download = client_for(alice).get(f"/api/attachments/{response.json()['id']}/")
    assert download["Content-Type"] == "image/png"


def test_another_user_gets_the_same_404_as_for_a_missing_id(alice, bob, attachment_storage):
    attachment_id = uploaded(alice, "alice.txt", b"alice's notes\n")
    as_bob = client_for(bob).get(f"/api/attachments/{attachment_id}/")
    missing = client_for(bob).get(f"/api/attachments/{attachment_id + 1000}/")
    assert as_bob.status_code == missing.status_code == 404
    assert as_bob.json() == missing.json() == {"error": {"code": "not_found", "detail": "No such attachment."}}
    assert client_for(bob).delete(f"/api/attachments/{attachment_id}/").status_code == 404
    assert Attachment.objects.filter(pk=attachment_id).exists()


def test_staff_download_any_attachment_for_review(alice, staff, attachment_storage):
    attachment_id = uploaded(alice, "alice.txt", b"alice's notes\n")
    response = client_for(staff).get(f"/api/attachments/{attachment_id}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"alice's notes\n"


def test_a_deleted_conversation_hides_its_attachments_from_the_user_not_from_staff(alice, staff, attachment_storage):
    attachment_id = uploaded(alice, "kept.txt", b"kept for review\n")
    conversation = Conversation.objects.create(user=alice, title="t")
    message = Message.objects.create(conversation=conversation, user=alice, prompt="p", model_key="m", model_id="m",
                                     provider="local", client_request_id="r1")
    Attachment.objects.filter(pk=attachment_id).update(conversation=conversation, message=message)
    assert client_for(alice).delete(f"/api/conversations/{conversation.pk}/").status_code == 204
    assert client_for(alice).get(f"/api/attachments/{attachment_id}/").status_code == 404
    assert client_for(staff).get(f"/api/attachments/{attachment_id}/").status_code == 200


def test_an_unsent_upload_can_be_removed_a_sent_one_cannot(alice, attachment_storage, django_capture_on_commit_callbacks):
    unsent = uploaded(alice, "draft.txt", b"draft\n")
    sent = uploaded(alice, "sent.txt", b"sent\n")
    conversation = Conversation.objects.create(user=alice, title="t")
    message = Message.objects.create(conversation=conversation, user=alice, prompt="p", model_key="m", model_id="m",
                                     provider="local", client_request_id="r1")
    Attachment.objects.filter(pk=sent).update(conversation=conversation, message=message)
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):  # the file goes when the deletion commits
        assert client.delete(f"/api/attachments/{unsent}/").status_code == 204
    assert client.get(f"/api/attachments/{unsent}/").status_code == 404
    refused = client.delete(f"/api/attachments/{sent}/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "already_sent"
    assert [path.name for path in attachment_storage.rglob("*.txt")] == [Attachment.objects.get().file.name.rsplit("/", 1)[-1]]


def test_the_conversation_history_lists_each_turns_attachments(alice, attachment_storage):
    attachment_id = uploaded(alice, "chart.png", image_bytes("PNG"))
    conversation = Conversation.objects.create(user=alice, title="t")
    message = Message.objects.create(conversation=conversation, user=alice, prompt="p", model_key="m", model_id="m",
                                     provider="local", client_request_id="r1")
    Attachment.objects.filter(pk=attachment_id).update(conversation=conversation, message=message)
    history = client_for(alice).get(f"/api/conversations/{conversation.pk}/").json()
    size = Attachment.objects.get().size
    assert history["messages"][0]["attachments"] == [
        {"id": attachment_id, "name": "chart.png", "kind": "image", "format": "png", "size": size}]
