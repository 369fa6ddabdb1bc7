"""Budget periods are UTC calendar days, weeks (from Monday) and months: a budget used up in one period is
whole again at 00:00 UTC when the next begins, and a period's spend so far counts only its own answers."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import transaction

from chat import budgets
from chat.frames import FrameError
from chat.models import usage
from chat.models import Budget, CatalogEntry, Conversation, Message
from chat.providers import GenerationRequest
from tests.conftest import TEST_MODEL_ID

pytestmark = pytest.mark.django_db(transaction=True)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.mark.parametrize(("period", "now", "start", "end"), [
    ("day", utc(2026, 11, 30, 23, 59, 59), utc(2026, 11, 30), utc(2026, 12, 1)),
    ("day", utc(2026, 12, 1), utc(2026, 12, 1), utc(2026, 12, 2)),
    ("week", utc(2026, 11, 29, 23, 59), utc(2026, 11, 23), utc(2026, 11, 30)),  # Sunday: the week began Monday
    ("week", utc(2026, 11, 30, 0, 0), utc(2026, 11, 30), utc(2026, 12, 7)),  # Monday 00:00: a new week
    ("week", utc(2026, 12, 31, 12), utc(2026, 12, 28), utc(2027, 1, 4)),  # across the year
    ("month", utc(2026, 11, 30, 23, 59), utc(2026, 11, 1), utc(2026, 12, 1)),
    ("month", utc(2026, 12, 15), utc(2026, 12, 1), utc(2027, 1, 1)),
    ("month", utc(2028, 2, 29, 8), utc(2028, 2, 1), utc(2028, 3, 1)),
])
def test_periods_are_utc_calendar_periods(period, now, start, end):
    assert budgets.period_bounds(period, now) == (start, end)


def test_a_moment_in_another_zone_falls_in_its_utc_period():
    new_york = timezone(timedelta(hours=-5))
    late_evening = datetime(2026, 11, 30, 21, 0, tzinfo=new_york)  # already 1 December in UTC
    assert budgets.period_bounds("month", late_evening)[0] == utc(2026, 12, 1)


@pytest.fixture
def priced(db):
    CatalogEntry.objects.create(key="sonnet", label="Sonnet", provider="bedrock-converse", model_id=TEST_MODEL_ID,
                                price_per_1k_input=Decimal("0.003"), price_per_1k_output=Decimal("0.015"))
    return "sonnet"


def answer(user, model: str, created: datetime, cost: str, tokens: int = 100) -> Message:
    """A finished answer created at `created`, counted in the usage rollup as Message.finish counts it."""
    conversation = Conversation.objects.create(user=user, title="t")
    message = Message.objects.create(conversation=conversation, user=user, prompt="p", model_key=model, model_id="m",
                                  provider="bedrock-converse", client_request_id=f"r-{created.isoformat()}-{cost}",
                                  status="complete", cost=Decimal(cost), input_tokens=tokens, output_tokens=0,
                                  created=created, finished=created)
    usage.record(message)
    return message


def try_prompt(user, model: str, now: datetime, max_tokens: int = 1000) -> Message:
    """A prompt saved and reserved at `now`, as start_turn does it (refused: FrameError, nothing saved)."""
    with transaction.atomic():
        conversation = Conversation.objects.create(user=user, title="t")
        message = Message.objects.create(conversation=conversation, user=user, prompt="Hello there", model_key=model,
                                         model_id="m", provider="bedrock-converse", client_request_id=f"p-{now.isoformat()}")
        request = GenerationRequest(model_id="m", messages=message.context_before(60_000), params={})
        budgets.reserve(message, request, {"max_tokens": max_tokens}, now=now)
    return message


@pytest.mark.parametrize(("period", "last_moment", "next_period"), [
    ("day", utc(2026, 11, 30, 23, 59, 59), utc(2026, 12, 1)),
    ("week", utc(2026, 11, 29, 23, 59, 59), utc(2026, 11, 30)),
    ("month", utc(2026, 11, 30, 23, 59, 59), utc(2026, 12, 1)),
])
def test_a_used_up_budget_is_whole_again_when_the_next_period_begins(alice, priced, period, last_moment, next_period):
    Budget.objects.create(user=alice, period=period, max_cost=Decimal("0.02"))
    answer(alice, priced, last_moment - timedelta(minutes=5), "0.01")  # spent earlier in the period

    with pytest.raises(FrameError) as refusal:  # 0.01 + 0.015009 does not fit 0.02
        try_prompt(alice, priced, last_moment)
    assert refusal.value.extra["budget"]["resets_at"] == next_period.isoformat().replace("+00:00", "Z")
    assert refusal.value.extra["budget"]["left"] == "0.01"

    try_prompt(alice, priced, next_period)  # a new period: last period's spend does not count
    with pytest.raises(FrameError):  # 0.015009 reserved, another does not fit
        try_prompt(alice, priced, next_period + timedelta(seconds=1))


def test_answers_before_the_counter_existed_count_as_the_periods_spend_so_far(alice, bob, priced):
    Budget.objects.create(user=alice, period="month", max_cost=Decimal("0.03"))
    answer(alice, priced, utc(2026, 10, 31, 23, 59), "5")  # last month: not counted
    answer(alice, priced, utc(2026, 11, 2), "0.01")
    answer(bob, priced, utc(2026, 11, 3), "5")  # someone else's: not counted
    try_prompt(alice, priced, utc(2026, 11, 10))  # 0.01 + 0.015009 fits 0.03
    with pytest.raises(FrameError):
        try_prompt(alice, priced, utc(2026, 11, 10, 0, 1))
