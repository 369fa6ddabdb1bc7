"""purge_history removes the files of the messages it purges (and uploads never sent, older than the age);
a user's delete of a conversation keeps its files for staff, as it keeps the messages. A file another
message still shares stays."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from chat.models import Attachment, Conversation, Message
from tests.attachment_files import attachment_storage, client_for, image_bytes, pdf_bytes, stored

pytestmark = pytest.mark.django_db(transaction=True)  # files go when the deletion commits
__all__ = ["attachment_storage"]


def files_in(location) -> set[str]:
    return {str(path.relative_to(location)) for path in location.rglob("*") if path.is_file()}


def sent_turn(user, attachments, days_ago: int, request_id: str) -> Conversation:
    when = timezone.now() - timedelta(days=days_ago)
    conversation = Conversation.objects.create(user=user, title="t", updated=when)
    message = Message.objects.create(conversation=conversation, user=user, prompt="p", model_key="m", model_id="m",
                                     provider="local", client_request_id=request_id, status=Message.Status.COMPLETE)
    for attachment in attachments:
        if attachment.message_id is None:
            Attachment.objects.filter(pk=attachment.pk).update(message=message, conversation=conversation)
        else:
            attachment.shared_copy(message).save()
    return conversation


def test_purge_removes_the_files_of_purged_messages_only(alice, staff, attachment_storage):
    old_pdf = stored(alice, "old.pdf", pdf_bytes("Old."))
    old_png = stored(alice, "old.png", image_bytes("PNG"))
    recent = stored(alice, "recent.txt", b"recent\n")
    old_unsent = stored(alice, "never sent.txt", b"draft\n")
    new_unsent = stored(alice, "draft.txt", b"new draft\n")
    Attachment.objects.filter(pk=old_unsent.pk).update(created=timezone.now() - timedelta(days=100))
    sent_turn(alice, [old_pdf, old_png], days_ago=100, request_id="old")
    sent_turn(alice, [recent], days_ago=1, request_id="recent")
    before = files_in(attachment_storage)
    assert len(before) == 5

    output = io.StringIO()
    call_command("purge_history", "--older-than", "90d", stdout=output)

    kept = {recent.file.name, new_unsent.file.name}
    assert files_in(attachment_storage) == kept
    assert set(Attachment.objects.values_list("file", flat=True)) == kept
    assert "Deleted 3 attachment(s) and their files" in output.getvalue()


def test_a_file_shared_with_a_kept_message_stays(alice, staff, attachment_storage):
    report = stored(alice, "report.pdf", pdf_bytes("Shared."))
    sent_turn(alice, [report], days_ago=100, request_id="old")
    report.refresh_from_db()
    sent_turn(alice, [report], days_ago=1, request_id="again")  # sent again later (Regenerate)
    call_command("purge_history", "--older-than", "90d", stdout=io.StringIO())
    assert files_in(attachment_storage) == {report.file.name}
    assert Attachment.objects.count() == 1


def test_a_users_delete_keeps_the_files_for_staff(alice, staff, attachment_storage):
    report = stored(alice, "report.pdf", pdf_bytes("Kept."))
    conversation = sent_turn(alice, [report], days_ago=1, request_id="r")
    assert client_for(alice).delete(f"/api/conversations/{conversation.pk}/").status_code == 204
    assert files_in(attachment_storage) == {report.file.name}
    assert client_for(staff).get(f"/api/attachments/{report.pk}/").status_code == 200
