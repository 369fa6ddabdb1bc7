"""The SQL the usage dashboard needs beyond Django's own: continuous percentiles and local calendar days.

Percentiles use `percentile_cont` on PostgreSQL; on SQLite, which has none, one
query numbers each model's rows in the order of each measure (ROW_NUMBER) and returns only the rows at
the positions the percentiles need (never all the rows). Both give the same continuous percentile: the
value at position p × (n − 1), interpolated linearly.
"""

import math
from datetime import datetime, timedelta, timezone as fixed_offset

from django.db import connections
from django.db.models import Aggregate, Case, Count, DateField, F, FloatField, Func, Q, Value, When, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

PERCENTILES = (0.5, 0.95)


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile: percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


# Over more answers than this, percentiles are estimated from every SAMPLE_EVERY-th answer (by id), read
# from the small covering index migration 0015 keeps over exactly those rows: sorting a year's million
# values took 0.5–1.6 s; the sample reads ~5 % of them. Within a few % at this size; the page says so.
# Sorting is most of the cost: over SAMPLED_ROWS answers in the sample, a sparser one (every 100th, 500th…)
# is read from the same index.
SAMPLE_ABOVE = 50_000
SAMPLE_EVERY = 20  # as in migration 0015's index predicate, which the query must repeat to use it
SAMPLED_ROWS = 20_000


def sample_step(rows_in_range: int) -> int:
    """Every how many answers (by id) the percentiles read: 1 (all) up to SAMPLE_ABOVE, then 20, 100, 500…"""
    if rows_in_range <= SAMPLE_ABOVE:
        return 1
    step = SAMPLE_EVERY
    while rows_in_range / step > SAMPLED_ROWS:
        step *= 5
    return step


def sample_of(queryset, step: int):
    """Every step-th message by id (a multiple of SAMPLE_EVERY), stated with migration 0015's index predicate."""
    quote = connections[queryset.db].ops.quote_name
    column = f"{quote(queryset.model._meta.db_table)}.{quote('id')}"
    where = [f"{column} %% {SAMPLE_EVERY} = 0"] + ([f"{column} %% {step} = 0"] if step != SAMPLE_EVERY else [])
    return queryset.extra(where=where)


def percentiles_by_model(queryset, measures: dict, fractions=PERCENTILES, counts=None,
                         rows_in_range: int = 0) -> dict[str, dict[str, dict]]:
    """{measure: {model_key: {"count": n, fraction: value, ...}}}, each over the rows where it is not NULL.

    `counts` ({measure: {model_key: rows where it is not NULL}}) saves a query when the caller has them.
    `rows_in_range`: how many rows the queryset holds, when known: above SAMPLE_ABOVE the percentiles are
    estimated from a sample (sample_step, sample_of; the counts are then the sample's).
    """
    queryset = queryset.order_by()
    step = sample_step(rows_in_range)
    if step > 1:
        queryset, counts = sample_of(queryset, step), None
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
    if isinstance(zone, fixed_offset) or getattr(zone, "key", None) in ("UTC", "Etc/UTC"):
        return periods  # a fixed offset: no need to walk a year hour by hour (8,784 look-ups)
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
