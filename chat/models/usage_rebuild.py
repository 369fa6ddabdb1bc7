"""Recount the usage rollup from the messages: `manage.py rebuild_usage`, and migration 0012's backfill.

INSERT … SELECT … GROUP BY statements (the users' own rows, one row per group membership, the
everyone rows of UsageTotalDay, then the month rows of UsageMonth summed from the new UsageDay rows), in
one transaction that first empties the tables; on PostgreSQL the table is locked against settling
answers meanwhile (they wait, then add to the new rows), so nothing is counted twice or lost.
Group rows follow today's memberships: history does not say which groups a user was in back then.
"""

import datetime as dt

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import BigIntegerField, Case, IntegerField, Count, DateField, F, Func, Q, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, Round, TruncDate, TruncMonth

from chat.models.usage import COST_UNITS, COUNTERS, KEY, MONTH_KEY, TOTAL_KEY


def utc_day(vendor: str):
    if vendor == "sqlite":  # stored as UTC text; TruncDate would call Python once per row there
        return Func(F("created"), function="DATE", output_field=DateField())
    return TruncDate("created", tzinfo=dt.timezone.utc)


def _sum(expression):
    return Coalesce(Sum(expression), Value(0), output_field=BigIntegerField())


def _count(condition: Q):
    return Count("pk", filter=condition)


def counter_aggregates() -> dict:
    """Each COUNTER as an aggregate over messages (the same figures usage.contribution() gives one message)."""
    unpriced = Q(cost__isnull=True)
    tokens = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
              "cache_read_tokens": "cache_read_input_tokens", "cache_write_tokens": "cache_write_input_tokens"}
    aggregates = {
        "requests": Count("pk"),
        "errors": _count(Q(status="error")),
        "blocked": _count(Q(status="blocked")),
        **{name: _sum(field) for name, field in tokens.items()},
        "cost_units": _sum(Cast(Round(F("cost") * Value(COST_UNITS)), BigIntegerField())),
        "priced_requests": _count(~unpriced),
        "unpriced_requests": _count(unpriced),
        **{f"unpriced_{name}": Coalesce(Sum(field, filter=unpriced), Value(0), output_field=BigIntegerField())
           for name, field in tokens.items()},
        "ttft_count": _count(Q(ttft_ms__isnull=False)),
        "tps_count": _count(Q(output_tokens__isnull=False, ttft_ms__isnull=False, duration_ms__isnull=False,
                              duration_ms__gt=F("ttft_ms"))),
    }
    assert list(aggregates) == list(COUNTERS)
    return {f"r_{name}": aggregate for name, aggregate in aggregates.items()}


def recount_query(messages, *, per_group: bool, everyone: bool = False):
    """The rollup's rows, recounted: a GROUP BY over settled messages, columns named r_<rollup column>
    (everyone: UsageTotalDay's rows, without user and group)."""
    vendor = connections[messages.db].vendor
    settled = messages.exclude(status="streaming")
    if per_group:
        settled = settled.filter(user__groups__isnull=False)
    keys = {
        "r_day": utc_day(vendor),
        "r_user_id": F("user_id"),
        "r_group_id": F("user__groups") if per_group else Cast(Value(None), IntegerField()),
        "r_model_key": F("model_key"),
        "r_error_code": Case(When(status="error", then=F("error_code")), default=Value("")),
        "r_currency": Case(When(cost__isnull=False, then=F("currency")), default=Value(settings.PRICE_CURRENCY)),
    }
    if everyone:
        keys = {name: value for name, value in keys.items() if name not in ("r_user_id", "r_group_id")}
    return settled.values(**keys).annotate(**counter_aggregates()).order_by()


def month_query(days):
    """UsageMonth's rows summed from UsageDay's (a queryset of it), columns named r_<column>."""
    keys = {"r_month": TruncMonth("day", output_field=DateField()), "r_user_id": F("user_id"),
            "r_group_id": F("group_id"), "r_model_key": F("model_key"), "r_currency": F("currency")}
    return days.values(**keys).annotate(**{f"r_{name}": Sum(name) for name in COUNTERS}).order_by()


def rebuild(message_model, usage_model, total_model=None, month_model=None, *, using=None) -> int:
    """Empty the rollup (UsageDay, and UsageTotalDay and UsageMonth when given) and recount it from every
    message; returns the number of rows written."""
    using = using or router.db_for_write(usage_model)
    connection = connections[using]
    quote = connection.ops.quote_name
    messages = message_model.objects.using(using)
    statements = [(usage_model, KEY, recount_query(messages, per_group=per_group)) for per_group in (False, True)]
    if total_model is not None:
        statements.append((total_model, TOTAL_KEY, recount_query(messages, per_group=False, everyone=True)))
    if month_model is not None:  # after UsageDay's statements: it sums their rows
        statements.append((month_model, MONTH_KEY, month_query(usage_model.objects.using(using))))
    written = 0
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            tables = list(dict.fromkeys(quote(model._meta.db_table) for model, _, _ in statements))
            if connection.vendor == "postgresql":
                cursor.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
            for model, key, query in statements:
                columns = [*key, *COUNTERS]
                sql, params = query.query.sql_with_params()
                cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
                               f"SELECT {', '.join(quote('r_' + c) for c in columns)} FROM ({sql}) AS recount", params)
                written += cursor.rowcount
    return written
