"""The usage dashboard's figures, aggregated in the database.

Every figure comes from a GROUP BY query; Python only adds up the few rows those return (one per day,
model and error code). Percentiles use `percentile_cont` on PostgreSQL; on SQLite, which has none, one
query numbers each model's rows in the order of each measure (ROW_NUMBER) and returns only the rows at
the positions the percentiles need (never all the rows). Both give the same continuous percentile: the
value at position p × (n − 1), interpolated linearly.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Aggregate, Case, Count, DateField, F, FloatField, Func, Q, Sum, Value, When, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from chat.models import CatalogEntry, Message, tokens_per_second

PERCENTILES = (0.5, 0.95)
TOP_USERS = 10
RUNNING_SHOWN = 50


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile: percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def percentiles_by_model(queryset, measures: dict, fractions=PERCENTILES, counts=None) -> dict[str, dict[str, dict]]:
    """{measure: {model_key: {"count": n, fraction: value, ...}}}, each over the rows where it is not NULL.

    `counts` ({measure: {model_key: rows where it is not NULL}}) saves a query when the caller has them.
    """
    queryset = queryset.order_by()
    if connections[queryset.db].vendor == "postgresql":
        aggregates = {}
        for name, expression in measures.items():
            aggregates[f"{name}__count"] = Count(expression)
            aggregates |= {f"{name}__{i}": PercentileCont(expression, f) for i, f in enumerate(fractions)}
        rows = list(queryset.values("model_key").annotate(**aggregates))
        return {
            name: {
                row["model_key"]: {"count": row[f"{name}__count"]} | {f: row[f"{name}__{i}"] for i, f in enumerate(fractions)}
                for row in rows if row[f"{name}__count"]
            }
            for name in measures
        }
    # Elsewhere (SQLite): number each model's rows in the order of each measure (ROW_NUMBER, NULLs
    # last) in one query, and return only the rows at the positions each percentile needs.
    if counts is None:
        rows = queryset.values("model_key").annotate(**{name: Count(expression) for name, expression in measures.items()})
        counts = {name: {row["model_key"]: row[name] for row in rows} for name in measures}
    positions = {name: {} for name in measures}
    wanted = Q()
    for name, per_model in counts.items():
        for model_key, count in per_model.items():
            if count:
                ranks = sorted({rank for f in fractions for rank in _ranks(f, count)})
                positions[name][model_key] = ranks
                wanted |= Q(model_key=model_key, **{f"{name}_rank__in": ranks})
    values = {name: {} for name in measures}  # measure -> model -> {1-based rank: value}
    if wanted:
        ranked = queryset.annotate(**{f"{name}_value": expression for name, expression in measures.items()})
        ranked = ranked.annotate(**{
            f"{name}_rank": Window(RowNumber(), partition_by=[F("model_key")], order_by=[F(f"{name}_value").asc(nulls_last=True)])
            for name in measures
        })
        columns = ["model_key"] + [f"{name}_{part}" for name in measures for part in ("value", "rank")]
        for row in ranked.filter(wanted).values(*columns):
            for name in measures:
                if row[f"{name}_rank"] in positions[name].get(row["model_key"], ()):
                    values[name].setdefault(row["model_key"], {})[row[f"{name}_rank"]] = row[f"{name}_value"]
    results = {}
    for name in measures:
        results[name] = {}
        for model_key, count in counts[name].items():
            if not count:
                continue
            results[name][model_key] = {"count": count}
            for fraction in fractions:
                position = fraction * (count - 1)
                low = math.floor(position)
                below = values[name][model_key][low + 1]
                above = values[name][model_key].get(low + 2, below)
                results[name][model_key][fraction] = below + (above - below) * (position - low)
    return results


def _ranks(fraction: float, count: int) -> list[int]:
    """The 1-based ranks of the values on either side of a percentile's position."""
    low = math.floor(fraction * (count - 1))
    return [low + 1, min(low + 2, count)]


def local_date(field: str, since: datetime, until: datetime, connection_vendor: str):
    """The local calendar day of a datetime column, for GROUP BY.

    PostgreSQL: TruncDate. SQLite: Django's TruncDate calls a Python function per row there (seconds
    for 100,000 rows), so this uses SQLite's own date() with the UTC offset in force at each instant,
    a CASE over the few offset changes (daylight saving) between `since` and `until`.
    """
    if connection_vendor != "sqlite":
        return TruncDate(field)
    periods = offset_periods(since, until, timezone.get_current_timezone())
    modifiers = [Value(f"{int(offset.total_seconds()) // 60:+d} minutes") for _, offset in periods]
    shift = modifiers[0] if len(periods) == 1 else Case(
        *[When(**{f"{field}__lt": change}, then=modifier) for (change, _), modifier in zip(periods[1:], modifiers)],
        default=modifiers[-1],
    )
    return Func(F(field), shift, function="DATE", output_field=DateField())


def offset_periods(since: datetime, until: datetime, zone) -> list[tuple[datetime, timedelta]]:
    """[(start, UTC offset)] for each stretch of constant offset between two instants, to the second."""
    def offset(instant):
        return instant.astimezone(zone).utcoffset()

    periods = [(since, offset(since))]
    hour = since
    while hour < until:
        following = min(hour + timedelta(hours=1), until)
        if offset(following) != periods[-1][1]:
            low, high = hour, following  # the change happens in (low, high]: bisect to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == periods[-1][1] else (low, middle)
            periods.append((high.replace(microsecond=0), offset(following)))
        hour = following
    return periods


MEASURES = {"ttft": F("ttft_ms"), "tps": tokens_per_second()}


@dataclass(frozen=True)
class Scope:
    start: date
    end: date  # included
    model_key: str = ""
    user_id: int | None = None

    def days(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range((self.end - self.start).days + 1)]

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.get_current_timezone())

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())

    def messages(self, *, every_model: bool = False):
        in_range = Message.objects.filter(created__gte=self.since, created__lt=self.until)
        return self.narrow(in_range, every_model=every_model)

    def narrow(self, messages, *, every_model: bool = False):
        if self.model_key and not every_model:
            messages = messages.filter(model_key=self.model_key)
        if self.user_id:
            messages = messages.filter(user_id=self.user_id)
        return messages


@dataclass
class Totals:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = None

    def add(self, row: dict, cost: Decimal | None) -> None:
        self.requests += row["requests"]
        self.errors += row["errors"]
        self.input_tokens += row["input_sum"] or 0
        self.output_tokens += row["output_sum"] or 0
        if cost is not None:
            self.cost = (self.cost or Decimal(0)) + cost

    @property
    def error_percent(self) -> str:
        return f"{self.errors / self.requests:.1%}" if self.requests else "–"

    @property
    def cost_label(self) -> str:
        return money(self.cost)


@dataclass
class Usage:
    scope: Scope
    total: Totals
    days: list[tuple[date, Totals]]
    models: list[dict]
    errors: list[dict]
    top_users: list[dict]
    running: list
    running_count: int
    priced: bool
    model_keys: list[str]  # every model used in the range (by the chosen user), whatever model is chosen


def prices() -> dict[str, tuple[Decimal | None, Decimal | None]]:
    entries = CatalogEntry.objects.filter(Q(price_per_1k_input__isnull=False) | Q(price_per_1k_output__isnull=False))
    return {key: (pin, pout) for key, pin, pout in entries.values_list("key", "price_per_1k_input", "price_per_1k_output")}


def estimated_cost(price: tuple | None, input_tokens: int | None, output_tokens: int | None) -> Decimal | None:
    if price is None:
        return None
    per_input, per_output = price
    cost = Decimal(0)
    if per_input is not None:
        cost += Decimal(input_tokens or 0) * per_input / 1000
    if per_output is not None:
        cost += Decimal(output_tokens or 0) * per_output / 1000
    return cost


def usage(scope: Scope) -> Usage:
    messages = scope.messages()
    price_list = prices()

    # One GROUP BY (day, model, error code) query, over every model so the form can offer them all:
    # each total on the page is a sum of its few rows (days × models × codes), not of messages.
    vendor = connections[messages.db].vendor
    rows = (
        scope.messages(every_model=True)
        .annotate(day=local_date("created", scope.since, scope.until, vendor))
        .values("day", "model_key", "error_code")
        .annotate(requests=Count("pk"), errors=Count("pk", filter=Q(status=Message.Status.ERROR)),
                  input_sum=Sum("input_tokens"), output_sum=Sum("output_tokens"),
                  **{f"{name}_count": Count(expression) for name, expression in MEASURES.items()})
        .order_by()
    )
    measure_counts = {name: {} for name in MEASURES}
    total = Totals()
    by_day = {day: Totals() for day in scope.days()}
    by_model: dict[str, Totals] = {}
    by_code: dict[str, int] = {}
    model_keys = set()
    for row in rows:
        model_keys.add(row["model_key"])
        if scope.model_key and row["model_key"] != scope.model_key:
            continue
        cost = estimated_cost(price_list.get(row["model_key"]), row["input_sum"], row["output_sum"])
        total.add(row, cost)
        by_day.setdefault(row["day"], Totals()).add(row, cost)
        by_model.setdefault(row["model_key"], Totals()).add(row, cost)
        for name, per_model in measure_counts.items():
            per_model[row["model_key"]] = per_model.get(row["model_key"], 0) + row[f"{name}_count"]
        if row["errors"]:
            by_code[row["error_code"]] = by_code.get(row["error_code"], 0) + row["errors"]

    measured = percentiles_by_model(messages, MEASURES, counts=measure_counts)
    ttft, speed = measured["ttft"], measured["tps"]
    labels = dict(CatalogEntry.objects.filter(key__in=list(by_model)).values_list("key", "label"))
    models = [
        {
            "key": key,
            "label": labels.get(key, ""),
            "totals": totals,
            "ttft_p50": ttft.get(key, {}).get(0.5),
            "ttft_p95": ttft.get(key, {}).get(0.95),
            "tps_p50": speed.get(key, {}).get(0.5),
            "tps_p95": speed.get(key, {}).get(0.95),
        }
        for key, totals in sorted(by_model.items(), key=lambda item: (-item[1].requests, item[0]))
    ]

    errors = [{"error_code": code, "count": count} for code, count in sorted(by_code.items(), key=lambda item: (-item[1], item[0]))]
    top_users = list(
        messages.values("user_id")
        .annotate(requests=Count("pk"), input_sum=Sum("input_tokens", default=0), output_sum=Sum("output_tokens", default=0))
        .annotate(tokens=F("input_sum") + F("output_sum"))
        .order_by("-tokens", "user_id")[:TOP_USERS]
    )
    names = dict(get_user_model().objects.filter(pk__in=[row["user_id"] for row in top_users]).values_list("pk", "username"))
    for row in top_users:
        row["user__username"] = names.get(row["user_id"], f"user {row['user_id']}")

    streaming = scope.narrow(Message.objects.streaming())
    running = list(streaming.select_related("user").order_by("created")[:RUNNING_SHOWN])
    now = timezone.now()
    for message in running:
        # A run checkpoints every few seconds; one that has gone quiet is probably dead (see recover_streams).
        message.quiet_seconds = (now - (message.heartbeat_at or message.created)).total_seconds()
        message.stale = message.quiet_seconds > settings.STREAM_STALE_SECONDS
    return Usage(
        scope=scope,
        total=total,
        days=sorted(by_day.items()),
        models=models,
        errors=errors,
        top_users=top_users,
        running=running,
        running_count=len(running) if len(running) < RUNNING_SHOWN else streaming.count(),
        priced=bool(price_list),
        model_keys=sorted(model_keys),
    )


def money(value) -> str:
    return "–" if value is None else f"{float(value):,.2f}" if value >= 1 else f"{float(value):.4f}"
