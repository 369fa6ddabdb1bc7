"""The usage dashboard's sums read from the per-day rollup (chat.models.usage) instead of the messages.

The rollup counts settled answers by UTC day; answers still streaming are added from the messages (a
few rows, on the status index), so the figures are what a scan of the messages gives. It serves the
dashboard when its days are UTC days (TIME_ZONE=UTC, the default); in another time zone a local day
is not a sum of UTC days and the dashboard scans the messages (chat.dashboard.queries.grouped_rows).
"""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db.models import Sum
from django.utils import timezone

from chat.dashboard.aggregates import offset_periods
from chat.models import UsageDay, UsageTotalDay
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


def rows_in(scope, *, every_model: bool = False):
    """The users' own rollup rows in the scope's days (of its user, and model unless every_model)."""
    rows = UsageDay.objects.users_own().between(scope.start, scope.end)
    if scope.model_key and not every_model:
        rows = rows.filter(model_key=scope.model_key)
    if scope.user_id:
        rows = rows.filter(user_id=scope.user_id)
    return rows


def with_stored_cost(row: dict) -> dict:
    """The rollup's whole 1e-8 units as the stored cost (None when no answer had one)."""
    row["stored_cost"] = Decimal(row.pop("cost_units") or 0) / COST_UNITS if row.pop("priced") else None
    return row


def summed(rows, *keys) -> list[dict]:
    return [with_stored_cost(row) for row in rows.values(*keys).annotate(**{name: Sum(column) for name, column in SUMS.items()}).order_by()]


def grouped_rows(scope) -> list[dict]:
    """Like queries.grouped_rows, from the rollup: one row per (day, model, error code, currency).
    Without a user filter from the everyone rows (UsageTotalDay: ~30 a day, not one per user)."""
    if scope.user_id:
        rows = rows_in(scope, every_model=True)
    else:
        rows = UsageTotalDay.objects.filter(day__gte=scope.start, day__lte=scope.end)
    return summed(rows, "day", "model_key", "error_code", "currency")


def per_user_and_model(scope) -> list[dict]:
    return summed(rows_in(scope), "user_id", "model_key")


def per_group_and_model(scope) -> list[dict]:
    """The groups' rows (an answer counts once in each group its user was in)."""
    rows = UsageDay.objects.per_group().between(scope.start, scope.end)
    if scope.model_key:
        rows = rows.filter(model_key=scope.model_key)
    if scope.user_id:
        rows = rows.filter(user_id=scope.user_id)
    rows = summed(rows, "group_id", "model_key")
    names = dict(Group.objects.filter(pk__in={row["group_id"] for row in rows}).values_list("pk", "name"))
    for row in rows:
        row["group__name"] = names.get(row["group_id"], f"group {row['group_id']}")
    return rows
