"""The usage dashboard's sums read from the per-day rollup (chat.models.usage) instead of the messages.

The rollup counts settled answers by UTC day; answers still streaming are added from the messages (a
few rows, on the status index), so the figures are what a scan of the messages gives. It serves the
dashboard when its days are UTC days (TIME_ZONE=UTC, the default); in another time zone a local day
is not a sum of UTC days and the dashboard scans the messages (chat.dashboard.queries.grouped_rows).
"""

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db.models import Sum
from django.utils import timezone

from chat.dashboard.aggregates import offset_periods
from chat.models import UsageDay, UsageMonth, UsageTotalDay
from chat.models.usage import COST_UNITS

# The dashboard's row names for the rollup's columns (as chat.dashboard.queries.grouped_rows names them).
SUMS = {
    "requests": "requests", "errors": "errors", "blocked": "blocked", "cost_units": "cost_units",
    "priced": "priced_requests",
    "input_sum": "input_tokens", "output_sum": "output_tokens",
    "cache_read_sum": "cache_read_tokens", "cache_write_sum": "cache_write_tokens",
    "estimated_input_sum": "unpriced_input_tokens", "estimated_output_sum": "unpriced_output_tokens",
    "estimated_cache_read_sum": "unpriced_cache_read_tokens", "estimated_cache_write_sum": "unpriced_cache_write_tokens",
    "ttft_count": "ttft_count", "tps_count": "tps_count",
}


def serves(scope) -> bool:
    """Whether the scope's local days are UTC days (the rollup's) from its first to its last instant."""
    periods = offset_periods(scope.since, scope.until, timezone.get_current_timezone())
    return len(periods) == 1 and periods[0][1] == timedelta(0)


def month_split(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """[start, end] as the first days of its whole calendar months (None if none) and the day ranges left
    at either edge."""
    first = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    after_end = end + timedelta(days=1)
    last = (after_end if after_end.day == 1 else end.replace(day=1)) - timedelta(days=1)  # the last whole month's end
    if first > last:
        return None, [(start, end)]
    edges = [(start, first - timedelta(days=1))] if start < first else []
    if last < end:
        edges.append((last + timedelta(days=1), end))
    return (first, last.replace(day=1)), edges


def with_stored_cost(row: dict) -> dict:
    """The rollup's whole 1e-8 units as the stored cost (None when no answer had one)."""
    row["stored_cost"] = Decimal(row.pop("cost_units") or 0) / COST_UNITS if row.pop("priced") else None
    return row


def sums(rows, *keys) -> list[dict]:
    return list(rows.values(*keys).annotate(**{name: Sum(column) for name, column in SUMS.items()}).order_by())


def summed(rows, *keys) -> list[dict]:
    return [with_stored_cost(row) for row in sums(rows, *keys)]


def summed_by_months(scope, *keys, per_group: bool) -> list[dict]:
    """The users' own (or the groups') sums per `keys` over the scope's days: its whole months from
    UsageMonth (~12 rows a year per user and model), the days of its partial months from UsageDay."""
    months, edges = month_split(scope.start, scope.end)
    parts = []
    for model, ranges in ((UsageMonth, [months] if months else []), (UsageDay, edges)):
        for first, last in ranges:
            rows = model.objects.per_group() if per_group else model.objects.users_own()
            parts.extend(sums(scope.narrow(rows.between(first, last)), *keys))
    added = {}
    for row in parts:
        key = tuple(row[name] for name in keys)
        if key not in added:
            added[key] = row
        else:
            for name in SUMS:
                added[key][name] = (added[key][name] or 0) + (row[name] or 0)
    return [with_stored_cost(row) for row in added.values()]


def day_model_rows(scope) -> list[dict]:
    """The sums per (day, model), every model (the form offers them all): without a user filter from the
    everyone rows (UsageTotalDay: ~30 a day, not one per user), summed in the database (~5 a day)."""
    return summed(everyone_or_user(scope, every_model=True), "day", "model_key")


def everyone_or_user(scope, *, every_model: bool = False):
    if scope.user_id:
        rows = UsageDay.objects.users_own()
    else:
        rows = UsageTotalDay.objects.all()
    return scope.narrow(rows.filter(day__gte=scope.start, day__lte=scope.end), every_model=every_model)


def errors_by_code(scope) -> dict[str, int]:
    rows = everyone_or_user(scope).filter(errors__gt=0).values("error_code").annotate(n=Sum("errors")).order_by()
    return {row["error_code"]: row["n"] for row in rows}


def currencies(scope) -> set[str]:
    """The currencies of the stored costs counted in the scope."""
    rows = everyone_or_user(scope).filter(priced_requests__gt=0).values_list("currency", flat=True).distinct()
    return {currency or "(no currency)" for currency in rows.order_by()}


def per_user_and_model(scope) -> list[dict]:
    return summed_by_months(scope, "user_id", "model_key", per_group=False)


def per_group_and_model(scope) -> list[dict]:
    """The groups' rows (an answer counts once in each group its user was in)."""
    rows = summed_by_months(scope, "group_id", "model_key", per_group=True)
    names = dict(Group.objects.filter(pk__in={row["group_id"] for row in rows}).values_list("pk", "name"))
    for row in rows:
        row["group__name"] = names.get(row["group_id"], f"group {row['group_id']}")
    return rows
