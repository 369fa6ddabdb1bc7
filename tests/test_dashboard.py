"""The usage dashboard's figures, checked against values worked out by hand for a small known history."""

import random
import statistics
from datetime import date, datetime, timedelta, timezone as dt_timezone
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.dashboard.aggregates import percentiles_by_model
from chat.models import CatalogEntry, Conversation, Message, tokens_per_second, usage

pytestmark = pytest.mark.django_db

URL = "/admin/chat/message/dashboard/"
RANGE = {"start": "2025-03-01", "end": "2025-03-03"}


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00").replace(tzinfo=dt_timezone.utc)


def make(user, model_key, created, **fields):
    conversation = Conversation.objects.create(user=user, title="t")
    status = fields.pop("status", "complete")
    message = Message.objects.create(
        conversation=conversation, user=user, prompt="p", model_key=model_key, model_id=model_key, provider="local",
        client_request_id=f"{Message.objects.count()}", status=status, created=created, **fields)
    if status != "streaming":  # saved as settled: counted in the usage rollup, as Message.finish does
        usage.record(message)
    return message


@pytest.fixture
def known(alice, bob):
    CatalogEntry.objects.create(key="claude", label="Claude", provider="bedrock-converse", model_id="anthropic.claude",
                                price_per_1k_input=Decimal("3"), price_per_1k_output=Decimal("15"))
    # claude: TTFT 100, 300, 500 ms; tokens/s 100 (200 in 2 s), 50 (100 in 2 s), 200 (600 in 3 s).
    make(alice, "claude", at("2025-03-01"), input_tokens=100, output_tokens=200, ttft_ms=100, duration_ms=2100)
    make(bob, "claude", at("2025-03-02"), input_tokens=300, output_tokens=100, ttft_ms=300, duration_ms=2300)
    make(alice, "claude", at("2025-03-03"), input_tokens=50, output_tokens=600, ttft_ms=500, duration_ms=3500)
    make(bob, "claude", at("2025-03-03", "23:59"), status="error", error_code="throttled")
    # local (no price): TTFT 1000 ms; 40 tokens in 2 s.
    make(alice, "local", at("2025-03-02", "00:00"), input_tokens=10, output_tokens=40, ttft_ms=1000, duration_ms=3000)
    make(bob, "local", at("2025-03-02"), status="error", error_code="model_error")
    make(bob, "local", at("2025-03-02"), status="error", error_code="throttled")
    # Outside the range, and one still running now.
    make(alice, "claude", at("2025-02-28", "23:59"), input_tokens=1000, output_tokens=1000, ttft_ms=9, duration_ms=99)
    make(alice, "claude", at("2025-03-04", "00:00"), input_tokens=1000, output_tokens=1000)
    return make(alice, "local", timezone.now(), status="streaming", seq=12, heartbeat_at=timezone.now())


class Tables(HTMLParser):
    """The text of each table's body rows, by table id, as a staff user reads them."""

    def __init__(self, html):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self.current = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr" and self.current is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.current = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join(self.cell.split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.current.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def dashboard(client, **params):
    page = client.get(URL, params)
    assert page.status_code == 200
    html = page.content.decode()
    return html, Tables(html).tables


def test_daily_figures_and_totals(client, staff, known):
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    assert tables["days-table"] == [
        ["Day", "Requests", "Errors", "Blocked", "Input tokens", "Output tokens", "Est. cost"],
        ["Sat 1 Mar", "1", "0", "0", "100", "200", "3.30"],   # 100 × 3/1000 + 200 × 15/1000
        ["Sun 2 Mar", "4", "2", "0", "310", "140", "2.40"],   # only claude is priced: 0.90 + 1.50
        ["Mon 3 Mar", "2", "1", "0", "50", "600", "9.15"],
    ]
    for element, value in (("total-requests", "7"), ("total-errors", "3 (42.9%)"), ("total-input", "460"),
                           ("total-output", "940"), ("total-cost", "14.85"), ("running-count", "1")):
        assert f'id="{element}">{value}' in " ".join(html.replace("<small>", "").replace("</small>", "").split()), element


def test_per_model_percentiles_and_cost(client, staff, known):
    client.force_login(staff)
    _, tables = dashboard(client, **RANGE)
    assert tables["models-table"] == [
        ["Model", "Requests", "Errors", "Blocked", "Input tokens", "Output tokens", "Cache read", "Cache write", "TTFT p50",
         "TTFT p95", "Tokens/s p50", "Tokens/s p95", "Est. cost"],
        # TTFT 100, 300, 500: p95 at position 1.9 = 300 + 0.9 × 200. Tokens/s 50, 100, 200: p95 = 100 + 0.9 × 100.
        ["claude Claude", "4", "1", "0", "450", "900", "0", "0", "300 ms", "480 ms", "100.0", "190.0", "14.85"],
        ["local", "3", "2", "0", "10", "40", "0", "0", "1,000 ms", "1,000 ms", "20.0", "20.0", "–"],
    ]


def test_errors_by_code_and_top_users(client, staff, known, alice, bob):
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    assert tables["errors-table"] == [["Error code", "Errors"], ["throttled", "2"], ["model_error", "1"]]
    assert tables["users-table"] == [
        ["User", "Requests", "Blocked", "Input tokens", "Output tokens", "Total", "Est. cost"],
        ["alice", "3", "0", "160", "840", "1,000", "12.45"],  # claude: 3.30 + 9.15 (local has no price)
        ["bob", "4", "0", "300", "100", "400", "2.40"],
    ]
    assert f"?user__id__exact={alice.pk}&amp;created_from=2025-03-01&amp;created_to=2025-03-03" in html
    assert "?error_code=throttled&amp;created_from=2025-03-01&amp;created_to=2025-03-03" in html


def test_running_streams_whatever_the_dates(client, staff, known):
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    running = tables["running-table"]
    assert len(running) == 2
    assert running[1][:5] == [f"#{known.pk}", "alice", "local", timezone.localtime(known.created).strftime("%Y-%m-%d %H:%M:%S"), "12"]
    assert "probably dead" not in html
    Message.objects.filter(pk=known.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert "probably dead" in dashboard(client, **RANGE)[0]
    Message.objects.filter(pk=known.pk).update(status="interrupted")
    html, tables = dashboard(client, **RANGE)
    assert "running-table" not in tables and "Nothing is streaming" in html


def test_model_and_user_filters(client, staff, known, bob):
    client.force_login(staff)
    _, tables = dashboard(client, **RANGE, model="local")
    assert [row[:3] for row in tables["days-table"][1:]] == [["Sat 1 Mar", "0", "0"], ["Sun 2 Mar", "3", "2"], ["Mon 3 Mar", "0", "0"]]
    assert [row[0] for row in tables["models-table"][1:]] == ["local"]
    assert "running-table" in tables  # the running stream is on `local`

    _, tables = dashboard(client, **RANGE, user=str(bob.pk))
    assert [row[1] for row in tables["days-table"][1:]] == ["0", "3", "1"]
    assert [row[0] for row in tables["users-table"][1:]] == ["bob"]
    assert "running-table" not in tables  # alice's stream is not bob's


def test_charts_are_drawn_from_the_same_figures(client, staff, known):
    client.force_login(staff)
    html, _ = dashboard(client, **RANGE)
    assert html.count('<figure class="chart">') == 7  # requests, tokens, cost, TTFT, tokens/s, errors, users
    for title in ("Mar 01 · requests: 1", "Mar 02 · requests: 4", "Mar 03 · requests: 2",
                  "Mar 03 · output tokens: 600", "Mar 03 · estimated cost: 9.15",
                  "claude · p95: 480 ms", "local · p50: 20.0/s", "throttled · errors: 2", "alice · tokens: 1k"):
        assert f"<title>{title}</title>" in html, title
    heights = {}
    section = html[html.index('id="h-requests"'):html.index('id="h-tokens"')]
    for part in section.split("<rect")[1:]:
        height = float(part.split('height="')[1].split('"')[0])
        label = part.split("<title>")[1].split("</title>")[0]
        heights[label] = height
    one, four, two = heights["Mar 01 · requests: 1"], heights["Mar 02 · requests: 4"], heights["Mar 03 · requests: 2"]
    assert four == pytest.approx(4 * one, abs=0.2) and two == pytest.approx(2 * one, abs=0.2)


def test_default_range_is_the_last_seven_days(client, staff, alice):
    today = timezone.localdate()
    noon = datetime.combine(today, datetime.min.time(), tzinfo=timezone.get_current_timezone()) + timedelta(hours=12)
    make(alice, "local", noon - timedelta(days=6), input_tokens=1, output_tokens=1)
    make(alice, "local", noon - timedelta(days=7), input_tokens=1, output_tokens=1)
    client.force_login(staff)
    html, tables = dashboard(client)
    assert len(tables["days-table"]) == 1 + 7
    assert tables["days-table"][1][0] == (today - timedelta(days=6)).strftime("%a %-d %b")
    assert 'id="total-requests">1<' in html


def test_a_reversed_range_is_refused(client, staff, known):
    client.force_login(staff)
    html, tables = dashboard(client, start="2025-03-03", end="2025-03-01")
    assert "The start date is after the end date." in html
    assert len(tables["days-table"]) == 1 + 7  # the default range instead


def test_without_prices_there_is_no_cost(client, staff, known):
    CatalogEntry.objects.all().delete()
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    assert "Est. cost" not in tables["days-table"][0] and 'id="total-cost"' not in html
    assert html.count('<figure class="chart">') == 6


def test_the_number_of_queries_does_not_grow_with_the_messages(client, staff, known, alice, bob):
    client.force_login(staff)
    with CaptureQueriesContext(connection) as before:
        dashboard(client, **RANGE)
    for n in range(60):
        make(alice, "claude", at("2025-03-02"), input_tokens=n, output_tokens=n + 1, ttft_ms=n, duration_ms=n + 500,
             cache_read_input_tokens=n, cost=Decimal(n) / 1000 if n % 2 else None, currency="USD" if n % 2 else "")
    for n in range(20):
        make(bob if n % 2 else alice, "local", at("2025-03-03"), status="blocked", stop_reason="guardrail_intervened")
    with CaptureQueriesContext(connection) as after:
        dashboard(client, **RANGE)
    assert 5 < len(after.captured_queries) == len(before.captured_queries)


@pytest.mark.parametrize("size", [1, 2, 3, 10, 41])
def test_percentiles_match_the_continuous_definition(alice, size):
    values = random.Random(size).sample(range(1, 10_000), size)
    for value in values:
        make(alice, "m", timezone.now(), ttft_ms=value, output_tokens=value, duration_ms=value + 1000)
    both = percentiles_by_model(Message.objects.all(), {"ttft": F("ttft_ms"), "speed": tokens_per_second()})
    result = both["ttft"]["m"]
    expected = statistics.quantiles(values, n=100, method="inclusive") if size > 1 else [values[0]] * 99
    assert result["count"] == size
    assert result[0.5] == pytest.approx(expected[49]) and result[0.95] == pytest.approx(expected[94])
    assert both["speed"]["m"][0.5] == pytest.approx(statistics.median(values))  # value tokens in 1 s each


def test_days_follow_the_local_time_zone_across_a_daylight_saving_change(client, staff, alice, settings):
    """Paris moves from UTC+1 to UTC+2 at 01:00 UTC on 30 March 2025: each message counts on its local day."""
    settings.TIME_ZONE = "Europe/Paris"
    make(alice, "local", at("2025-03-29", "22:30"))  # 23:30 on the 29th in Paris
    make(alice, "local", at("2025-03-29", "23:30"))  # 00:30 on the 30th
    make(alice, "local", at("2025-03-30", "21:30"))  # 23:30 on the 30th (summer time)
    make(alice, "local", at("2025-03-30", "22:30"))  # 00:30 on the 31st
    make(alice, "local", at("2025-03-31", "21:59"))  # 23:59 on the 31st
    client.force_login(staff)
    _, tables = dashboard(client, start="2025-03-29", end="2025-03-31")
    assert [row[:2] for row in tables["days-table"][1:]] == [["Sat 29 Mar", "1"], ["Sun 30 Mar", "2"], ["Mon 31 Mar", "2"]]


@pytest.mark.parametrize("dates", [{"start": "9999-12-30"}, {"end": "0001-01-02"}, {"start": "1999-12-31", "end": "2000-01-02"},
                                   {"start": "0001-01-01", "end": "9999-12-31"}])
def test_dates_out_of_bounds_are_refused_on_the_page(client, staff, known, dates):
    """Each of these was a 500 (the week around it overflowed Python's dates): now the form says why."""
    client.force_login(staff)
    html, tables = dashboard(client, **dates)
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert f"Choose a day from 1 January 2000 to {tomorrow:%-d %B %Y}." in html
    assert len(tables["days-table"]) == 1 + 7  # the default range instead


def test_the_date_inputs_offer_only_the_bounded_days(client, staff):
    client.force_login(staff)
    html, _ = dashboard(client)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert html.count(f'min="2000-01-01" max="{tomorrow}"') == 2


def test_a_reversed_range_at_the_bounds_is_refused(client, staff, known):
    client.force_login(staff)
    html, tables = dashboard(client, start=(timezone.localdate() + timedelta(days=1)).isoformat(), end="2000-01-01")
    assert "The start date is after the end date." in html
    assert len(tables["days-table"]) == 1 + 7


# Claude 3.5 Sonnet's prices per 1,000 tokens: input, output, cache read, cache write.
SONNET = {"price_per_1k_input": Decimal("0.003"), "price_per_1k_output": Decimal("0.015"),
          "price_per_1k_cache_read": Decimal("0.0003"), "price_per_1k_cache_write": Decimal("0.00375")}


@pytest.fixture
def cached(alice, bob):
    CatalogEntry.objects.create(key="sonnet", label="Sonnet", provider="bedrock-converse", model_id="anthropic.sonnet", **SONNET)
    # Saved before costs were stored: estimated from today's prices, cache tokens included.
    # 1234 × 0.003 + 567 × 0.015 + 8901 × 0.0003 + 2345 × 0.00375, per 1,000 = 0.003702 + 0.008505 + 0.0026703 + 0.00879375.
    make(alice, "sonnet", at("2025-03-01"), input_tokens=1234, output_tokens=567, cache_read_input_tokens=8901,
         cache_write_input_tokens=2345)
    # Saved with its own cost (priced when it ended): that cost counts, not today's prices for its tokens.
    make(bob, "sonnet", at("2025-03-02"), input_tokens=100_000, output_tokens=100_000, cache_read_input_tokens=100_000,
         cost=Decimal("0.01234567"), currency="USD")
    # A model with no catalog prices whose answers were saved with a cost (a prompt router, say).
    make(bob, "router", at("2025-03-02"), input_tokens=10, output_tokens=10, cost=Decimal("0.00000001"), currency="USD")


def test_cost_counts_cache_tokens_at_their_prices_exactly(cached):
    from chat.dashboard.queries import Scope, usage

    report = usage(Scope(start=date(2025, 3, 1), end=date(2025, 3, 3)))
    estimated = Decimal("0.003702") + Decimal("0.008505") + Decimal("0.0026703") + Decimal("0.00879375")
    assert estimated == Decimal("0.02367105")
    by_model = {m["key"]: m["totals"] for m in report.models}
    assert by_model["sonnet"].cost == estimated + Decimal("0.01234567")
    assert by_model["router"].cost == Decimal("0.00000001")
    assert report.total.cost == Decimal("0.03601673")
    assert [(day.isoformat(), totals.cost) for day, totals in report.days] == [
        ("2025-03-01", Decimal("0.02367105")), ("2025-03-02", Decimal("0.01234568")), ("2025-03-03", None)]
    assert (report.total.cache_read_tokens, report.total.cache_write_tokens) == (108_901, 2345)
    assert report.priced and report.currencies == ["USD"]


def test_cost_and_cache_figures_on_the_page(client, staff, cached):
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    flat = " ".join(html.replace("<small>", "").replace("</small>", "").split())
    for element, value in (("total-cost", "0.0360 USD"), ("total-cache-read", "108,901"), ("total-cache-write", "2,345")):
        assert f'id="{element}">{value}<' in flat, element
    assert "in USD" in flat and 'id="mixed-currencies"' not in html
    rows = {row[0]: row for row in tables["models-table"][1:]}
    assert rows["sonnet Sonnet"][6:8] == ["108,901", "2,345"] and rows["sonnet Sonnet"][-1] == "0.0360"
    assert rows["router"][-1] == "0.0000"  # priced, though the catalog has no prices for it


def test_stored_costs_show_without_catalog_prices_and_mixed_currencies_are_flagged(client, staff, cached, alice):
    CatalogEntry.objects.all().delete()
    make(alice, "router", at("2025-03-03"), cost=Decimal("2.5"), currency="EUR")
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    assert 'id="total-cost"' in html and tables["days-table"][0][-1] == "Est. cost"
    assert tables["days-table"][1][-1] == "–"  # the estimated answer has no prices now
    assert tables["days-table"][3][-1] == "2.50"
    assert "These costs add up amounts in EUR, USD as if they were one currency." in html


@pytest.fixture
def blocked(known, alice, bob):
    for created in (at("2025-03-01", "08:00"), at("2025-03-03", "09:00")):
        make(alice, "claude", created, status="blocked", stop_reason="guardrail_intervened", input_tokens=5, output_tokens=0)
    make(bob, "local", at("2025-03-02"), status="blocked", stop_reason="content_filtered")
    make(bob, "local", at("2025-02-28"), status="blocked")  # outside the range


def test_blocked_answers_per_model_and_user(client, staff, blocked, alice, bob):
    client.force_login(staff)
    html, tables = dashboard(client, **RANGE)
    assert 'id="total-blocked">3<' in html
    assert [row[:4] for row in tables["days-table"][1:]] == [
        ["Sat 1 Mar", "2", "0", "1"], ["Sun 2 Mar", "5", "2", "1"], ["Mon 3 Mar", "3", "1", "1"]]
    assert [row[:4] for row in tables["models-table"][1:]] == [["claude Claude", "6", "1", "2"], ["local", "4", "2", "1"]]
    assert [row[:3] for row in tables["users-table"][1:]] == [["alice", "5", "2"], ["bob", "5", "1"]]
    assert tables["blocked-users-table"] == [["User", "Blocked answers"], ["alice", "2"], ["bob", "1"]]
    assert "?status__exact=blocked&amp;model_key=claude&amp;created_from=2025-03-01&amp;created_to=2025-03-03" in html
    assert f"?status__exact=blocked&amp;user__id__exact={alice.pk}&amp;created_from=2025-03-01&amp;created_to=2025-03-03" in html
    # A blocked answer is not an error: the error rate stays the errors'.
    assert 'id="total-errors">3 <small>(30.0%)</small>' in html

    _, tables = dashboard(client, **RANGE, model="local")
    assert tables["blocked-users-table"] == [["User", "Blocked answers"], ["bob", "1"]]
    html, tables = dashboard(client, **RANGE, user=str(alice.pk))
    assert tables["blocked-users-table"][1:] == [["alice", "2"]] and 'id="total-blocked">2<' in html
    html, tables = dashboard(client, start="2025-03-04", end="2025-03-05")
    assert "blocked-users-table" not in tables and "No answer was blocked in this range." in html


def test_the_figures_are_read_from_the_covering_index(cached):
    """The GROUP BY behind every total reads message_usage_idx alone, never the table's long text columns."""
    from chat.dashboard.queries import Scope, grouped_rows

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan names a covering index; PostgreSQL picks by table statistics")
    plan = grouped_rows(Scope(start=date(2025, 3, 1), end=date(2025, 3, 3))).explain()
    assert "USING COVERING INDEX message_usage_idx" in plan
