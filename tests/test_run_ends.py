"""Runs' ends saved together (chat.runs.finishing): one transaction, a savepoint each, so one end that fails
is reported to its own run and the others are saved all the same."""

import asyncio

import pytest

from chat.models import Conversation
from chat.runs.finishing import finisher, save_ends

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_end_that_fails_leaves_the_others_saved(alice):
    def saving(title):
        return lambda: Conversation.objects.create(user=alice, title=title)

    def failing():
        Conversation.objects.create(user=alice, title="half done")
        raise ValueError("the answer could not be saved")

    outcomes = save_ends([saving("first"), failing, saving("third")])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert sorted(Conversation.objects.values_list("title", flat=True)) == ["first", "third"]


async def test_each_run_hears_its_own_outcome(alice):
    from asgiref.sync import sync_to_async

    def saving():
        Conversation.objects.create(user=alice, title="saved")

    def failing():
        raise ValueError("no")

    line = finisher()
    saved, failed = await asyncio.gather(line.save(saving), line.save(failing), return_exceptions=True)
    assert saved is None and isinstance(failed, ValueError)
    assert await sync_to_async(lambda: list(Conversation.objects.values_list("title", flat=True)))() == ["saved"]
