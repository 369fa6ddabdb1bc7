"""Retention: purge_history deletes old conversations with their messages, records it, and spares live streams."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.utils import timezone

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def conversation(user, title, *, age, statuses=("complete",)):
    updated = timezone.now() - age
    chat = Conversation.objects.create(user=user, title=title, created=updated, updated=updated)
    for n, status in enumerate(statuses):
        Message.objects.create(conversation=chat, user=user, prompt=f"{title} {n}", status=status, model_key="m",
                               model_id="m", provider="local", client_request_id=f"{title}-{n}", created=updated)
    return chat


@pytest.fixture
def ages(alice, bob):
    return {
        "ancient": conversation(alice, "Ancient", age=timedelta(days=200), statuses=("complete", "error", "stopped")),
        "old": conversation(bob, "Old", age=timedelta(days=91), statuses=("complete",)),
        "old_but_deleted_by_user": conversation(alice, "Hidden", age=timedelta(days=95), statuses=("complete", "complete")),
        "old_but_streaming": conversation(bob, "Live", age=timedelta(days=120), statuses=("complete", "streaming")),
        "recent": conversation(alice, "Recent", age=timedelta(days=89), statuses=("complete",)),
        "today": conversation(bob, "Today", age=timedelta(minutes=5), statuses=("streaming",)),
    }


def purge(*args):
    out = StringIO()
    call_command("purge_history", *args, stdout=out)
    return out.getvalue()


def test_deletes_exactly_the_old_conversations_with_their_messages(staff, ages):
    Conversation.objects.filter(pk=ages["old_but_deleted_by_user"].pk).update(deleted_at=timezone.now())
    output = purge("--older-than", "90d")
    kept = set(Conversation.objects.values_list("title", flat=True))
    assert kept == {"Live", "Recent", "Today"}
    assert set(Message.objects.values_list("conversation__title", flat=True)) == {"Live", "Recent", "Today"}
    assert Message.objects.count() == 4
    assert "Deleted 3 conversation(s) and 6 message(s)" in output
    assert "Kept 1 old conversation(s) with a message still streaming." in output
    assert "superuser 'sam'" in output and "the first superuser" in output


def test_each_deletion_is_in_the_admin_log(staff, django_user_model, ages):
    django_user_model.objects.create_superuser("zed", password="zed-password-1")  # later than sam
    purged = {ages[name].pk for name in ("ancient", "old", "old_but_deleted_by_user")}
    purge("--older-than", "90d")
    entries = LogEntry.objects.filter(action_flag=DELETION)
    assert {int(entry.object_id) for entry in entries} == purged
    for entry in entries:
        assert entry.user == staff
        assert entry.content_type == ContentType.objects.get_for_model(Conversation)
        assert entry.object_repr == f"Conversation {entry.object_id}"  # not the deleted title
        assert entry.change_message.startswith("Deleted by manage.py purge_history --older-than 90d")


def test_dry_run_deletes_nothing(staff, ages):
    output = purge("--older-than", "90d", "--dry-run")
    assert Conversation.objects.count() == 6 and Message.objects.count() == 10
    assert not LogEntry.objects.exists()
    assert "Dry run: would delete 3 conversation(s) and 6 message(s)" in output
    assert "Nothing was deleted." in output
    assert "Kept 1 old conversation(s) with a message still streaming." in output


@pytest.mark.parametrize("age, left", [
    ("2w", {"Live", "Today"}),          # 14 days: only the streaming ones survive
    ("100d", {"Old", "Hidden", "Recent", "Live", "Today"}),
    ("24h", {"Live", "Today"}),
    ("25W", {"Live", "Today", "Old", "Hidden", "Recent"}),  # 175 days: only "Ancient" (200) is older
])
def test_ages_in_hours_days_and_weeks(staff, ages, age, left):
    purge("--older-than", age)
    assert set(Conversation.objects.values_list("title", flat=True)) == left
    assert Message.objects.filter(status="streaming").count() == 2


@pytest.mark.parametrize("age", ["90", "90m", "d", "-5d", "0d", "1.5d"])
def test_a_bad_age_is_refused(staff, ages, age):
    with pytest.raises(CommandError, match="--older-than"):
        purge("--older-than", age)
    assert Conversation.objects.count() == 6


def test_without_a_superuser_nothing_is_deleted(alice, ages):
    with pytest.raises(CommandError, match="No superuser"):
        purge("--older-than", "90d")
    assert Conversation.objects.count() == 6
    assert "a real run would refuse" in purge("--older-than", "90d", "--dry-run")


def test_nothing_old_enough(staff, ages):
    output = purge("--older-than", "52w")
    assert Conversation.objects.count() == 6
    assert "Deleted 0 conversation(s) and 0 message(s)" in output
    assert not LogEntry.objects.exists()


def test_many_conversations_are_deleted_in_batches(staff, alice):
    for n in range(1203):
        conversation(alice, f"c{n}", age=timedelta(days=400), statuses=())
    conversation(alice, "new", age=timedelta(days=1))
    output = purge("--older-than", "1w")
    assert "Deleted 1203 conversation(s)" in output
    assert list(Conversation.objects.values_list("title", flat=True)) == ["new"]
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 1203
