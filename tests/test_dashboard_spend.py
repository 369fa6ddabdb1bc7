"""Spend per user and per group on the usage dashboard, and the spend CSV export, read from the usage rollup."""

import csv
import io
import statistics
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.template.defaultfilters import floatformat

from chat.models import CatalogEntry, Message
from tests.test_dashboard import RANGE, URL, at, dashboard, make

pytestmark = pytest.mark.django_db

SPEND_URL = URL + "spend.csv"


@pytest.fixture
def teams(alice, bob, django_user_model):
    """alice in research and ops, bob in ops, carol in none; claude priced, local not."""
    CatalogEntry.objects.create(key="claude", label="Claude", provider="bedrock-converse", model_id="anthropic.claude",
                                price_per_1k_input=Decimal("3"), price_per_1k_output=Decimal("15"))
    research, ops = Group.objects.create(name="research"), Group.objects.create(name="ops")
    alice.groups.add(research, ops)
    bob.groups.add(ops)
    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    make(alice, "claude", at("2025-03-01"), input_tokens=100, output_tokens=200)  # 0.30 + 3.00
    make(alice, "claude", at("2025-03-03"), input_tokens=10, output_tokens=10, cost=Decimal("0.5"), currency="USD")
    make(bob, "claude", at("2025-03-02"), input_tokens=1000, output_tokens=0)  # 3.00
    make(bob, "local", at("2025-03-02"), input_tokens=7, output_tokens=7)
    make(carol, "claude", at("2025-03-10"), input_tokens=1000, output_tokens=1000)  # 18.00, a later week
    return research, ops, carol


def test_spend_per_user_and_per_group_on_the_dashboard(client, staff, teams):
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    assert [row[0::6] for row in tables["users-table"]] == [["User", "Est. cost"], ["bob", "3.00"], ["alice", "3.80"]]
    assert tables["groups-table"] == [
        ["Group", "Requests", "Input tokens", "Output tokens", "Est. cost"],
        ["ops", "4", "1,117", "217", "6.80"],  # alice's and bob's answers
        ["research", "2", "110", "210", "3.80"],  # alice's
    ]
    assert 'id="spend-csv"' in html


def test_the_dashboard_keeps_the_figures_of_purged_messages(client, staff, teams):
    """The sums come from the rollup, which outlives the messages' text (purge_history)."""
    Message.objects.filter(created__lt=at("2025-03-02")).delete()
    client.force_login(staff)
    _, tables = dashboard(client, **RANGE)
    assert tables["days-table"][1][:2] == ["Sat 1 Mar", "1"]


def read_csv(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_spend_export_per_week_by_user_group_and_model(client, staff, teams):
    client.force_login(staff)
    rows = read_csv(client.get(SPEND_URL, {"start": "2025-03-01", "end": "2025-03-31", "period": "week"}))
    picked = [(r["period_start"], r["kind"], r["user"], r["group"], r["model"], r["requests"], r["cost"], r["estimated_cost"])
              for r in rows]
    assert picked == [
        # ISO weeks start on Monday: 1-2 March are in the week of 24 February.
        ("2025-02-24", "user", "alice", "", "claude", "1", "", "3.3"),
        ("2025-02-24", "user", "bob", "", "claude", "1", "", "3"),
        ("2025-02-24", "user", "bob", "", "local", "1", "", ""),
        ("2025-03-03", "user", "alice", "", "claude", "1", "0.5", ""),
        ("2025-03-10", "user", "carol", "", "claude", "1", "", "18"),
        ("2025-02-24", "group", "", "research", "claude", "1", "", "3.3"),
        ("2025-02-24", "group", "", "ops", "claude", "2", "", "6.3"),
        ("2025-02-24", "group", "", "ops", "local", "1", "", ""),
        ("2025-03-03", "group", "", "research", "claude", "1", "0.5", ""),
        ("2025-03-03", "group", "", "ops", "claude", "1", "0.5", ""),
    ]


def test_spend_export_per_month_adds_the_days_up(client, staff, teams, alice):
    make(alice, "claude", at("2025-03-20"), input_tokens=5, output_tokens=5, cost=Decimal("0.25"), currency="USD")
    client.force_login(staff)
    rows = read_csv(client.get(SPEND_URL, {"start": "2025-03-01", "end": "2025-03-31", "period": "month"}))
    alices = [r for r in rows if r["user"] == "alice"]
    assert [(r["period_start"], r["requests"], r["input_tokens"], r["cost"], r["currency"], r["unpriced_requests"],
             r["estimated_cost"]) for r in alices] == [("2025-03-01", "3", "115", "0.75", "USD", "1", "3.3")]


@pytest.mark.parametrize("query", [{}, {"start": "2025-03-01", "end": "2025-03-31", "period": "year"},
                                   {"start": "2025-03-31", "end": "2025-03-01", "period": "day"},
                                   {"start": "1999-01-01", "end": "2025-03-01", "period": "day"}])
def test_spend_export_refuses_bad_queries(client, staff, query):
    client.force_login(staff)
    response = client.get(SPEND_URL, query)
    assert response.status_code == 400 and b"Give start and end" in response.content


def test_spend_export_is_for_staff_only(client, alice):
    client.force_login(alice)
    response = client.get(SPEND_URL, {"start": "2025-03-01", "end": "2025-03-31", "period": "day"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_percentiles_over_many_answers_are_those_of_one_answer_in_twenty(client, staff, monkeypatch):
    """Over SAMPLE_ABOVE answers the percentiles come from the answers whose id is a multiple of SAMPLE_EVERY
    (the index of migration 0015), and the page says they are estimated."""
    from chat.dashboard import aggregates

    made = [make(staff, "claude", at("2025-03-02"), ttft_ms=7 * n + (n % 5) * 100, output_tokens=10, duration_ms=5000)
            for n in range(1, 90)]
    sample = sorted(m.ttft_ms for m in made if m.pk % aggregates.SAMPLE_EVERY == 0)
    assert 3 <= len(sample) < 10
    client.force_login(staff)
    html, exact = dashboard(client, **RANGE)
    assert 'id="sampled-percentiles"' not in html
    monkeypatch.setattr(aggregates, "SAMPLE_ABOVE", 50)
    html, sampled = dashboard(client, **RANGE)
    assert 'id="sampled-percentiles"' in html and "one answer in 20" in html
    row = dict(zip(sampled["models-table"][0], sampled["models-table"][1]))
    assert row["TTFT p50"] == f"{floatformat(statistics.median(sample), '0g')} ms"
    assert row["TTFT p50"] != dict(zip(exact["models-table"][0], exact["models-table"][1]))["TTFT p50"]


@pytest.mark.parametrize(("rows", "step"), [(50_000, 1), (50_001, 20), (400_000, 20), (400_001, 100),
                                            (1_000_000, 100), (2_000_001, 500)])
def test_the_sample_thins_out_as_the_range_grows(rows, step):
    """Percentiles sort at most SAMPLED_ROWS values: every 20th answer, then every 100th, 500th…"""
    from chat.dashboard import aggregates

    assert aggregates.sample_step(rows) == step


@pytest.mark.parametrize("start, end", [
    ("2025-02-20", "2025-04-03"),  # a partial month, a whole one, a partial one
    ("2025-03-01", "2025-03-31"),  # one whole month
    ("2025-02-01", "2025-04-30"),  # whole months only
    ("2025-03-02", "2025-03-20"),  # days of one month
])
def test_long_ranges_read_whole_months_and_show_what_a_scan_of_the_messages_shows(client, staff, teams, monkeypatch,
                                                                                 start, end):
    research, ops, carol = teams
    alice, bob = ops.user_set.order_by("username")
    for n, day in enumerate(["2025-02-19", "2025-02-20", "2025-02-28", "2025-03-31", "2025-04-01", "2025-04-03",
                             "2025-04-04", "2025-04-30"]):
        make([alice, bob, carol][n % 3], ["claude", "local"][n % 2], at(day), input_tokens=10 * n, output_tokens=n,
             **({"cost": Decimal("0.25"), "currency": "USD"} if n % 4 == 0 else {}))
    client.force_login(staff)
    from chat.dashboard import rollup

    from_rollup = dashboard(client, start=start, end=end)[1]
    monkeypatch.setattr(rollup, "serves", lambda scope: False)
    scanned = dashboard(client, start=start, end=end)[1]
    assert from_rollup == scanned
    assert len(from_rollup["users-table"]) > 1 and len(from_rollup["groups-table"]) > 1


def test_spend_export_per_month_over_whole_and_partial_months_adds_the_days_up(client, staff, teams):
    research, ops, carol = teams
    alice, bob = ops.user_set.order_by("username")
    for n, day in enumerate(["2025-02-19", "2025-02-20", "2025-02-28", "2025-03-31", "2025-04-01", "2025-04-03", "2025-04-04"]):
        make([alice, bob, carol][n % 3], ["claude", "local"][n % 2], at(day), input_tokens=10 * n, output_tokens=n)
    client.force_login(staff)
    query = {"start": "2025-02-20", "end": "2025-04-03"}
    days = read_csv(client.get(SPEND_URL, {**query, "period": "day"}))
    months = read_csv(client.get(SPEND_URL, {**query, "period": "month"}))
    summed = {}
    for row in days:
        key = (row["period_start"][:8] + "01", row["kind"], row["user"], row["group"], row["model"])
        summed[key] = [a + int(row[name]) for a, name in zip(summed.get(key, [0, 0, 0]), ("requests", "input_tokens", "output_tokens"))]
    assert {(row["period_start"], row["kind"], row["user"], row["group"], row["model"]):
            [int(row[name]) for name in ("requests", "input_tokens", "output_tokens")] for row in months} == summed
    assert {row["period_start"] for row in months} == {"2025-02-01", "2025-03-01", "2025-04-01"}
