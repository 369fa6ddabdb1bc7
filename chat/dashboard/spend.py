"""The spend export: per period (UTC day, ISO week or calendar month), per user and per group, per model,
read from the per-day usage rollup. Staff download it from the usage dashboard.

Each user's rows count their answers once; each group's rows count the answers of the users who were in
it when the answers ended (an answer counts in every group of its user). `cost` is the sum of the costs
stored with the answers (priced when they ended); `estimated_cost` prices the answers saved without one
at today's catalog prices (blank when the model has none). Amounts are plain digits ("0.5", "18").
"""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import F, Sum
from django.db.models.functions import TruncMonth, TruncWeek

from chat.dashboard.forms import EARLIEST, latest
from chat.dashboard.queries import estimated_cost, prices
from chat.exports import csv_cell
from chat.dashboard.rollup import month_split
from chat.models import UsageDay, UsageMonth
from chat.models.usage import COST_UNITS
from chat.pricing import amount_text

PERIODS = {"day": F("day"), "week": TruncWeek("day"), "month": TruncMonth("day")}
MAX_DAYS = 3 * 366
COLUMNS = ["period_start", "period", "kind", "user", "group", "model", "requests", "errors", "blocked", "input_tokens",
           "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "currency", "unpriced_requests",
           "estimated_cost"]
SUMMED = ["requests", "errors", "blocked", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
          "cost_units", "priced_requests", "unpriced_requests", *[f"unpriced_{kind}_tokens" for kind in
                                                                  ("input", "output", "cache_read", "cache_write")]]


class SpendForm(forms.Form):
    start = forms.DateField()
    end = forms.DateField()
    period = forms.ChoiceField(choices=[(name, name) for name in PERIODS])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if not EARLIEST <= start <= end <= latest():
                raise forms.ValidationError(f"Choose days from {EARLIEST} to {latest()}, the start first.")
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        return cleaned


def period_rows(start: date, end: date, period: str, *, per_group: bool):
    """The rollup summed per (period start, user or group, model, currency), in that order. Per month, whole
    months are read from UsageMonth (a year: ~12 rows per user and model) and only the edge days from UsageDay."""
    who = "group_id" if per_group else "user_id"

    def summed(model, first: date, last: date, period_start):
        rows = model.objects.between(first, last)
        rows = rows.per_group() if per_group else rows.users_own()
        return (rows.annotate(period_start=period_start).values("period_start", who, "model_key", "currency")
                .annotate(**{name: Sum(name) for name in SUMMED}).order_by())

    if period != "month":
        return summed(UsageDay, start, end, PERIODS[period]).order_by("period_start", who, "model_key", "currency")
    months, edges = month_split(start, end)  # no month is in both parts: a union, not a sum
    parts = [summed(UsageDay, first, last, PERIODS["month"]) for first, last in edges]
    if months:
        parts.append(summed(UsageMonth, *months, F("month")))
    first, *rest = parts
    return (first.union(*rest, all=True) if rest else first).order_by("period_start", who, "model_key", "currency")


def spend_rows(start: date, end: date, period: str):
    """Dicts with COLUMNS' keys: every user's rows, then every group's."""
    price_list = prices()
    users = dict(get_user_model().objects.values_list("pk", "username"))
    groups = dict(Group.objects.values_list("pk", "name"))
    for per_group in (False, True):
        for row in period_rows(start, end, period, per_group=per_group).iterator(chunk_size=2000):
            unpriced = tuple(row[f"unpriced_{kind}_tokens"] for kind in ("input", "output", "cache_read", "cache_write"))
            estimate = estimated_cost(price_list.get(row["model_key"]), unpriced) if row["unpriced_requests"] else None
            period_start = row["period_start"]
            yield {
                "period_start": period_start if isinstance(period_start, date) else date.fromisoformat(str(period_start)[:10]),
                "period": period, "kind": "group" if per_group else "user",
                "user": "" if per_group else users.get(row["user_id"], f"user {row['user_id']}"),
                "group": groups.get(row["group_id"], f"group {row['group_id']}") if per_group else "",
                "model": row["model_key"],
                **{name: row[name] for name in COLUMNS[6:13]},
                "cost": amount_text(Decimal(row["cost_units"]) / COST_UNITS) if row["priced_requests"] else "",
                "currency": row["currency"] if row["priced_requests"] else "", "unpriced_requests": row["unpriced_requests"],
                "estimated_cost": amount_text(estimate) if estimate is not None else "",
            }


def csv_chunks(rows, chunk_rows: int = 2000):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for count, row in enumerate(rows, 1):
        writer.writerow([csv_cell(row[name]) for name in COLUMNS])
        if count % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def default_range() -> tuple[date, date]:
    today = latest() - timedelta(days=1)
    return today - timedelta(days=29), today
