"""The per-day usage rollup: what every settled answer added, by UTC day, user, group and model.

An answer is counted once, when it settles (complete, stopped, error, blocked or interrupted), in the same
transaction as the message's final write, on the UTC day it was asked (`Message.created`). Each answer
adds to its user's own row (group NULL) and to one row per group the user belonged to then. Counters
are added in the database (INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n), so any number of
processes can settle answers at once on SQLite and PostgreSQL. `manage.py rebuild_usage` recounts it
from the messages (with today's group memberships).
"""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import connections, models, router
from django.db.models import Q

# Message.cost has 8 decimal places: the rollup keeps costs as whole 1e-8 units, exact on SQLite too
# (whose decimals are floats) and cheap to add up.
COST_UNITS = 10**8

# The rollup's counters, in the order record() and the rebuild write them.
COUNTERS = (
    "requests", "errors", "blocked", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "cost_units", "priced_requests", "unpriced_requests", "unpriced_input_tokens", "unpriced_output_tokens",
    "unpriced_cache_read_tokens", "unpriced_cache_write_tokens", "ttft_count", "tps_count",
)
# The message columns contribution() reads.
MESSAGE_FIELDS = ("created", "user_id", "model_key", "status", "error_code", "currency", "cost", "input_tokens",
                  "output_tokens", "cache_read_input_tokens", "cache_write_input_tokens", "ttft_ms", "duration_ms")
KEY = ("day", "user_id", "group_id", "model_key", "error_code", "currency")
# The everyone rows' key (UsageTotalDay): no user, no group.
TOTAL_KEY = ("day", "model_key", "error_code", "currency")
# The month rows' key (UsageMonth): per user or group and model only, the dashboard's and the monthly export's.
MONTH_KEY = ("month", "user_id", "group_id", "model_key", "currency")


class UsageQuerySet(models.QuerySet):
    def users_own(self):
        """Each user's own rows (one count of every answer)."""
        return self.filter(group__isnull=True)

    def per_group(self):
        return self.filter(group__isnull=False)


class UsageDayQuerySet(UsageQuerySet):
    def between(self, start: dt.date, end: dt.date):
        return self.filter(day__gte=start, day__lte=end)


class UsageMonthQuerySet(UsageQuerySet):
    def between(self, start: dt.date, end: dt.date):
        """The months whose first day is from start to end."""
        return self.filter(month__gte=start, month__lte=end)


class UsageCounters(models.Model):
    """The counters every rollup row holds (COUNTERS)."""

    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    blocked = models.BigIntegerField(default=0, help_text="Answers a guardrail or content filter blocked.")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost_units = models.BigIntegerField(default=0, help_text="The stored costs, in 1e-8 of the currency.")
    priced_requests = models.BigIntegerField(default=0, help_text="Answers saved with a cost.")
    unpriced_requests = models.BigIntegerField(default=0, help_text="Answers saved without a cost.")
    # The tokens of the answers without a cost, which the dashboard prices at today's catalog prices.
    unpriced_input_tokens = models.BigIntegerField(default=0)
    unpriced_output_tokens = models.BigIntegerField(default=0)
    unpriced_cache_read_tokens = models.BigIntegerField(default=0)
    unpriced_cache_write_tokens = models.BigIntegerField(default=0)
    # How many answers have a time to first token / a speed (the percentiles' row counts).
    ttft_count = models.BigIntegerField(default=0)
    tps_count = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def cost(self) -> Decimal | None:
        return Decimal(self.cost_units) / COST_UNITS if self.priced_requests else None


class UsageDay(UsageCounters):
    day = models.DateField(help_text="The UTC day the prompt was sent.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                              help_text="Empty: the user's own total. Else a group the user was in when it settled.")
    model_key = models.CharField(max_length=200)
    error_code = models.CharField(max_length=64, blank=True, help_text="The code of the errors counted here.")
    # Answers without a cost join the rows of PRICE_CURRENCY: one row, not two, for a model half priced.
    currency = models.CharField(max_length=3, blank=True, help_text="Of the stored costs counted here.")
    objects = UsageDayQuerySet.as_manager()

    class Meta:
        verbose_name = "usage per day"
        verbose_name_plural = "usage per day"
        constraints = [
            # Two partial unique indexes: NULL groups are distinct in a plain one (SQLite, PostgreSQL < 15).
            models.UniqueConstraint(fields=["day", "user", "model_key", "error_code", "currency"],
                                    condition=Q(group__isnull=True), name="usage_day_user_unique"),
            models.UniqueConstraint(fields=["day", "user", "group", "model_key", "error_code", "currency"],
                                    condition=Q(group__isnull=False), name="usage_day_group_unique"),
        ]
        indexes = [models.Index(fields=["day", "model_key"], name="usage_day_idx")]


class UsageTotalDay(UsageCounters):
    """Everyone's answers per UTC day, model, error code and currency: the sum of the users' own UsageDay
    rows, kept apart so the dashboard without a user filter reads ~30 rows a day instead of one per user.
    A deleted user's answers stay in it (spend history) until `rebuild_usage` recounts what is left."""

    day = models.DateField(help_text="The UTC day the prompt was sent.")
    model_key = models.CharField(max_length=200)
    error_code = models.CharField(max_length=64, blank=True, help_text="The code of the errors counted here.")
    currency = models.CharField(max_length=3, blank=True, help_text="Of the stored costs counted here.")

    class Meta:
        verbose_name = "usage per day (everyone)"
        verbose_name_plural = "usage per day (everyone)"
        constraints = [models.UniqueConstraint(fields=["day", "model_key", "error_code", "currency"],
                                               name="usage_total_day_unique")]


class UsageMonth(UsageCounters):
    """The users' and groups' UsageDay rows summed per UTC calendar month, without the error code: a year
    is ~12 rows per user and model instead of ~1,500, so the dashboard's per-user and per-group sums over
    long ranges read whole months here and only the days of partial months from UsageDay."""

    month = models.DateField(help_text="The first day of the UTC month.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                              help_text="Empty: the user's own total. Else a group the user was in when it settled.")
    model_key = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, blank=True, help_text="Of the stored costs counted here.")
    objects = UsageMonthQuerySet.as_manager()

    class Meta:
        verbose_name = "usage per month"
        verbose_name_plural = "usage per month"
        constraints = [
            models.UniqueConstraint(fields=["month", "user", "model_key", "currency"],
                                    condition=Q(group__isnull=True), name="usage_month_user_unique"),
            models.UniqueConstraint(fields=["month", "user", "group", "model_key", "currency"],
                                    condition=Q(group__isnull=False), name="usage_month_group_unique"),
        ]


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def contribution(message) -> dict:
    """What one settled message adds to its rows: the key and the counters."""
    status, cost = message.status, message.cost
    tokens = [message.input_tokens, message.output_tokens, message.cache_read_input_tokens,
              message.cache_write_input_tokens]
    tokens = [count or 0 for count in tokens]
    unpriced = cost is None
    measured_speed = (message.output_tokens is not None and message.duration_ms is not None
                      and message.ttft_ms is not None and message.duration_ms > message.ttft_ms)
    return {
        "day": message.created.astimezone(dt.timezone.utc).date(),
        "user_id": message.user_id,
        "model_key": message.model_key,
        "error_code": message.error_code if status == "error" else "",
        "currency": settings.PRICE_CURRENCY if unpriced else message.currency,
        "counters": [1, int(status == "error"), int(status == "blocked"), *tokens,
                     0 if unpriced else round(Decimal(cost) * COST_UNITS), int(not unpriced), int(unpriced),
                     *(tokens if unpriced else [0, 0, 0, 0]), int(message.ttft_ms is not None), int(measured_speed)],
    }


def record(message, group_ids=None, sign: int = 1) -> None:
    """Add a settled message to the rollup (sign -1: take it out again, when its outcome is rewritten).
    Call it inside the transaction that settles the message."""
    from django.contrib.auth.models import Group

    if group_ids is None:
        group_ids = list(Group.objects.filter(user__id=message.user_id).values_list("pk", flat=True))
    row = contribution(message)
    counters = [sign * value for value in row["counters"]]
    key = [row["day"], row["user_id"], row["model_key"], row["error_code"], row["currency"]]
    _upsert(UsageDay, KEY, [[key[0], key[1], None, *key[2:], *counters]], group_is_null=True)
    if group_ids:
        _upsert(UsageDay, KEY, [[key[0], key[1], group_id, *key[2:], *counters] for group_id in group_ids],
                group_is_null=False)
    _upsert(UsageTotalDay, TOTAL_KEY, [[key[0], *key[2:], *counters]])
    month = [month_of(row["day"]), row["user_id"]]
    _upsert(UsageMonth, MONTH_KEY, [[*month, None, row["model_key"], row["currency"], *counters]], group_is_null=True)
    if group_ids:
        _upsert(UsageMonth, MONTH_KEY, [[*month, group_id, row["model_key"], row["currency"], *counters]
                                        for group_id in group_ids], group_is_null=False)


def _upsert(model, key: tuple, rows: list[list], *, group_is_null: bool | None = None) -> None:
    """INSERT … ON CONFLICT DO UPDATE adding the counters; group_is_null names UsageDay's partial index."""
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*key, *COUNTERS]
    conflict = [column for column in key if not (group_is_null and column == "group_id")]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    partial = "" if group_is_null is None else f"WHERE {quote('group_id')} IS {'' if group_is_null else 'NOT '}NULL "
    sql = (f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) VALUES {', '.join([placeholders] * len(rows))} "
           f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) {partial}"
           f"DO UPDATE SET " + ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in COUNTERS))
    params = [connection.ops.adapt_datefield_value(value) if isinstance(value, dt.date) else value
              for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
