"""ATTACHMENT_QUOTA_BYTES: what one user may keep stored. Over it an upload is refused (413, quota_exceeded)
and nothing is stored; another user's files do not count; removing an unsent upload frees its room."""

import pytest

from chat.models import Attachment
from tests.attachment_files import attachment_storage, client_for, upload

pytestmark = pytest.mark.django_db
__all__ = ["attachment_storage"]


def test_an_upload_over_the_quota_is_refused(alice, bob, attachment_storage, settings, django_capture_on_commit_callbacks):
    settings.ATTACHMENT_QUOTA_BYTES = 2500
    alices, bobs = client_for(alice), client_for(bob)
    first = upload(alices, "one.txt", b"a" * 1000)
    second = upload(alices, "two.txt", b"b" * 1000)
    assert first.status_code == second.status_code == 201
    refused = upload(alices, "three.txt", b"c" * 1000)
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and "2,000 bytes" in error["detail"]
    assert Attachment.objects.filter(owner=alice).count() == 2
    assert len([path for path in attachment_storage.rglob("*") if path.is_file()]) == 2
    # Bob's room is his own.
    assert upload(bobs, "bobs.txt", b"d" * 2000).status_code == 201
    # Alice frees room by removing an upload she has not sent.
    with django_capture_on_commit_callbacks(execute=True):
        assert alices.delete(f"/api/attachments/{first.json()['id']}/").status_code == 204
    assert upload(alices, "three.txt", b"c" * 1000).status_code == 201


def test_a_quota_of_zero_takes_no_files(alice, attachment_storage, settings):
    settings.ATTACHMENT_QUOTA_BYTES = 0
    response = upload(client_for(alice), "one.txt", b"a")
    assert response.status_code == 413 and response.json()["error"]["code"] == "quota_exceeded"
