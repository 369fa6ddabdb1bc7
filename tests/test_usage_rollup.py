"""The per-day usage rollup: counted as answers settle, and always equal to a full recount of the messages."""

import threading
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from chat.models import Conversation, Message, UsageDay, UsageMonth, UsageTotalDay
from chat.models.usage import KEY, COUNTERS, MONTH_KEY, TOTAL_KEY
from tests.ws import prompt_frame, receive_until_done

ROW = [*KEY, *COUNTERS]


def rollup() -> dict:
    return {tuple(row[:len(KEY)]): row[len(KEY):]
            for row in UsageDay.objects.values_list(*[name.removesuffix("_id") if name.endswith("_id") else name for name in ROW])}


def totals() -> dict:
    return {tuple(row[:len(TOTAL_KEY)]): row[len(TOTAL_KEY):]
            for row in UsageTotalDay.objects.values_list(*TOTAL_KEY, *COUNTERS)}


def months() -> dict:
    return {tuple(row[:len(MONTH_KEY)]): row[len(MONTH_KEY):]
            for row in UsageMonth.objects.values_list(*[name.removesuffix("_id") for name in MONTH_KEY], *COUNTERS)}


def day_rows_by_month() -> dict:
    """The day rows added up per month, user, group, model and currency: what the month rows must hold."""
    summed = {}
    for (day, user, group, model_key, _, currency), counters in rollup().items():
        key = (day.replace(day=1), user, group, model_key, currency)
        summed[key] = [a + b for a, b in zip(summed.get(key, [0] * len(COUNTERS)), counters)]
    return {key: tuple(value) for key, value in summed.items()}


def own_rows_summed() -> dict:
    """The users' own rows added up over users: what the everyone rows must hold."""
    summed = {}
    for key, counters in rollup().items():
        if key[2] is None:
            total_key = (key[0], *key[3:])
            summed[total_key] = [a + b for a, b in zip(summed.get(total_key, [0] * len(COUNTERS)), counters)]
    return {key: tuple(value) for key, value in summed.items()}


def streaming(user, model_key, created) -> Message:
    conversation = Conversation.objects.create(user=user, title="t")
    return Message.objects.create(conversation=conversation, user=user, prompt="p", model_key=model_key, model_id=model_key,
                                  provider="bedrock-converse", client_request_id=str(Message.objects.count()),
                                  created=created, heartbeat_at=created)


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00").replace(tzinfo=dt_timezone.utc)


@pytest.fixture
def teams(alice, bob, django_user_model):
    """alice in research and ops, bob in ops, carol in no group."""
    research, ops = Group.objects.create(name="research"), Group.objects.create(name="ops")
    alice.groups.add(research, ops)
    bob.groups.add(ops)
    return research, ops, django_user_model.objects.create_user("carol", password="carol-password-1")


@pytest.mark.django_db
def test_the_rollup_equals_a_full_recount_after_a_mix_of_answers(alice, bob, teams):
    research, ops, carol = teams
    outcomes = [
        dict(status="complete", input_tokens=120, output_tokens=80, ttft_ms=300, duration_ms=1300,
             cost=Decimal("0.00123456"), currency="USD"),
        dict(status="complete", input_tokens=10, output_tokens=5, cache_read_input_tokens=900, cache_write_input_tokens=40),
        dict(status="stopped", input_tokens=50, output_tokens=7, ttft_ms=200, duration_ms=200, cost=Decimal("0.1"), currency="EUR"),
        dict(status="error", error_code="throttled", error_detail="Slow down."),
        dict(status="error", error_code="model_error", ttft_ms=90, duration_ms=95),
        dict(status="blocked", stop_reason="guardrail_intervened", input_tokens=9, output_tokens=0),
    ]
    users, models = [alice, bob, carol], ["claude", "local", "nova"]
    days = [at("2025-02-28", "23:59"), at("2025-03-01", "00:00"), at("2025-03-01", "23:59"), at("2025-03-02"),
            at("2025-03-31", "23:30")]
    n = 0
    for day in days:
        for user in users:
            for model_key in models:
                outcome = dict(outcomes[n % len(outcomes)])
                n += 1
                streaming(user, model_key, day + timedelta(seconds=n)).finish(response="r", **outcome)
    # Runs that died: closed as interrupted by the heartbeat check; one of them is finished after all by
    # its run (outlived the check): counted once, with its final outcome.
    lost = [streaming(user, "claude", at("2025-03-02")) for user in users]
    assert Message.objects.filter(pk__in=[m.pk for m in lost]).mark_interrupted() == 3
    lost[0].finish(status="complete", response="late", input_tokens=1000, output_tokens=1000)
    streaming(alice, "claude", at("2025-03-02"))  # still running: not counted yet

    counted, counted_totals, counted_months = rollup(), totals(), months()
    assert counted_totals == own_rows_summed() and len(counted_totals) < len(counted)
    assert counted_months == day_rows_by_month() and {key[0].month for key in counted_months} == {2, 3}
    own = {key: value for key, value in counted.items() if key[2] is None}
    assert sum(row[COUNTERS.index("requests")] for row in own.values()) == n + 3
    by_group = {key[2] for key in counted}
    assert by_group == {None, research.pk, ops.pk}

    call_command("rebuild_usage", stdout=open("/dev/null", "w"))
    assert rollup() == counted
    assert totals() == counted_totals
    assert months() == counted_months

    alice_day = UsageDay.objects.users_own().filter(user=alice, day="2025-03-01")
    assert sum(row.requests for row in alice_day) == 2 * len(models)
    ops_total = sum(row.requests for row in UsageDay.objects.filter(group=ops))
    assert ops_total == Message.objects.exclude(status="streaming").filter(user__in=[alice, bob]).count()


@pytest.mark.django_db
def test_a_stored_cost_adds_up_exactly(alice):
    for cost in ("0.00000001", "0.12345678", "1234.5"):
        streaming(alice, "claude", at("2025-03-01")).finish(status="complete", response="r", input_tokens=1, output_tokens=1,
                                                            cost=Decimal(cost), currency="USD")
    [row] = UsageDay.objects.all()
    assert row.cost == Decimal("1234.62345679") and (row.priced_requests, row.unpriced_requests) == (3, 0)


@pytest.mark.django_db(transaction=True)
def test_answers_settling_at_once_in_many_threads_are_all_counted(alice, teams):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:memorydb", ":memory:")):
        pytest.skip("threads share no in-memory SQLite database; PostgreSQL runs this")
    messages = [streaming(alice, "claude", at("2025-03-01")) for _ in range(40)]
    start = threading.Barrier(8)

    def settle(chunk):
        start.wait()
        try:
            for message in chunk:
                message.finish(status="complete", response="r", input_tokens=3, output_tokens=4,
                               cost=Decimal("0.00000003"), currency="USD")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=settle, args=(messages[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    own = UsageDay.objects.users_own().get()
    assert (own.requests, own.input_tokens, own.output_tokens, own.cost) == (40, 120, 160, Decimal("0.0000012"))
    assert sorted(UsageDay.objects.per_group().values_list("requests", flat=True)) == [40, 40]
    everyone = UsageTotalDay.objects.get()
    assert (everyone.requests, everyone.input_tokens, everyone.cost) == (40, 120, Decimal("0.0000012"))
    month = UsageMonth.objects.users_own().get()
    assert (month.month.isoformat(), month.requests, month.cost) == ("2025-03-01", 40, Decimal("0.0000012"))


@pytest.mark.django_db(transaction=True)
async def test_an_answer_through_the_socket_is_counted_on_its_day(alice, bedrock, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)
    assert frames[-1]["type"] == "done"
    row = await UsageDay.objects.aget(user=alice)
    assert (row.day, row.requests, row.model_key) == (timezone.now().astimezone(dt_timezone.utc).date(), 1, frames[0]["model"])
    assert row.input_tokens == (frames[-1]["usage"]["input_tokens"] or 0)
