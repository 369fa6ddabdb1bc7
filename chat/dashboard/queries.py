"""The usage dashboard's figures, aggregated in the database.

Every figure comes from a GROUP BY query; Python only adds up the few rows those return (one per day,
model, error code and currency). The sums come from the per-day rollup (chat/dashboard/rollup.py) when
the dashboard's days are UTC days, else from the messages. Percentiles come from chat/dashboard/aggregates.py.

Cost: each answer's stored `Message.cost` (priced when it ended, cache reads and writes at their own
prices), and for answers without one (older rows, or a model that had no prices then) an estimate from
the catalog's prices today.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from chat.dashboard import rollup
from chat.dashboard import aggregates
from chat.dashboard.aggregates import local_date, percentiles_by_model
from chat.models import CatalogEntry, Message, tokens_per_second

TOP_USERS = 10
RUNNING_SHOWN = 50
# The token counts each price applies to (per 1,000 tokens), in the order of `prices()`' tuples.
PRICED_TOKENS = (
    ("input_sum", "input_tokens", "price_per_1k_input"),
    ("output_sum", "output_tokens", "price_per_1k_output"),
    ("cache_read_sum", "cache_read_input_tokens", "price_per_1k_cache_read"),
    ("cache_write_sum", "cache_write_input_tokens", "price_per_1k_cache_write"),
)
NOT_STORED = Q(cost__isnull=True)  # answers whose cost is estimated here


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

    def narrow(self, rows, *, every_model: bool = False):
        """Rows with model_key and user_id (messages, or the usage rollup's) of the scope's model and user."""
        if self.model_key and not every_model:
            rows = rows.filter(model_key=self.model_key)
        if self.user_id:
            rows = rows.filter(user_id=self.user_id)
        return rows


@dataclass
class Totals:
    requests: int = 0
    errors: int = 0
    blocked: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal | None = None

    def add(self, row: dict, cost: Decimal | None) -> None:
        self.requests += row["requests"]
        self.errors += row["errors"]
        self.blocked += row["blocked"]
        self.input_tokens += row["input_sum"] or 0
        self.output_tokens += row["output_sum"] or 0
        self.cache_read_tokens += row["cache_read_sum"] or 0
        self.cache_write_tokens += row["cache_write_sum"] or 0
        if cost is not None:
            self.cost = (self.cost or Decimal(0)) + cost

    def merge(self, other: "Totals") -> None:
        for name in ("requests", "errors", "blocked", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.cost is not None:
            self.cost = (self.cost or Decimal(0)) + other.cost

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
    blocked_users: list[dict]
    groups: list[dict]  # spend per group: each answer counts in every group its user was in
    running: list
    running_count: int
    priced: bool
    currencies: list[str]  # of the stored costs counted; more than one means the cost figures mix them
    model_keys: list[str]  # every model used in the range (by the chosen user), whatever model is chosen
    from_rollup: bool = False  # read from the per-day rollup (UTC days), not the messages
    sampled_every: int = 1  # the percentiles read every n-th answer (aggregates.sample_step); 1: all


def prices() -> dict[str, tuple[Decimal | None, ...]]:
    """{model key: (input, output, cache read, cache write price per 1,000 tokens)} for models with any price."""
    fields = [field for _, _, field in PRICED_TOKENS]
    any_price = Q()
    for field in fields:
        any_price |= Q(**{f"{field}__isnull": False})
    return {key: tuple(row) for key, *row in CatalogEntry.objects.filter(any_price).values_list("key", *fields)}


def estimated_cost(price: tuple | None, tokens: tuple) -> Decimal | None:
    """The cost of token counts (in the order of PRICED_TOKENS) at a model's prices; a missing price counts as nothing."""
    if price is None:
        return None
    return sum((Decimal(count or 0) * per_1k / 1000 for count, per_1k in zip(tokens, price) if per_1k is not None), Decimal(0))


def row_cost(row: dict, price: tuple | None) -> Decimal | None:
    """A group's stored costs plus the estimate for its answers without one."""
    estimate = estimated_cost(price, tuple(row[f"estimated_{name}"] for name, _, _ in PRICED_TOKENS))
    if row["stored_cost"] is None:
        return estimate
    return row["stored_cost"] + (estimate or 0)


def sums() -> dict:
    """The sums of a group of messages, named as the rollup's rows are (chat.dashboard.rollup.SUMS)."""
    return dict(requests=Count("pk"), errors=Count("pk", filter=Q(status=Message.Status.ERROR)),
                blocked=Count("pk", filter=Q(status=Message.Status.BLOCKED)), stored_cost=Sum("cost"),
                **{name: Sum(field) for name, field, _ in PRICED_TOKENS},
                **{f"estimated_{name}": Sum(field, filter=NOT_STORED) for name, field, _ in PRICED_TOKENS})


def grouped_rows(scope: Scope, *, streaming: bool = False):
    """One GROUP BY (day, model, error code, currency) query, over every model so the form can offer them all:
    each total on the page is a sum of its few rows, not of messages. It reads only message_usage_idx.
    streaming: only the answers still streaming (what the rollup has not counted yet)."""
    messages = scope.messages(every_model=True)
    if streaming:
        messages = messages.filter(status=Message.Status.STREAMING)
    vendor = connections[messages.db].vendor
    return (
        messages.annotate(day=local_date("created", scope.since, scope.until, vendor))
        .values("day", "model_key", "error_code", "currency")
        .annotate(**sums(), **{f"{name}_count": Count(expression) for name, expression in MEASURES.items()})
        .order_by()
    )


CELL_SUMS = ("requests", "errors", "blocked", *(name for name, _, _ in PRICED_TOKENS),
             *(f"estimated_{name}" for name, _, _ in PRICED_TOKENS))


def add_to_cell(cells: dict, row: dict) -> None:
    """Adds a (day, model, error code, currency) row to its (day, model) cell: the cost is linear in the sums."""
    cell = cells.get((row["day"], row["model_key"]))
    if cell is None:
        cells[row["day"], row["model_key"]] = {**{name: row[name] or 0 for name in CELL_SUMS}, "stored_cost": row["stored_cost"]}
        return
    for name in CELL_SUMS:
        cell[name] += row[name] or 0
    if row["stored_cost"] is not None:
        cell["stored_cost"] = (cell["stored_cost"] or 0) + row["stored_cost"]


def usage(scope: Scope) -> Usage:
    messages = scope.messages()
    from_rollup = rollup.serves(scope)
    price_list = prices()
    measure_counts = {name: {} for name in MEASURES}
    total = Totals()
    by_day = {day: Totals() for day in scope.days()}
    by_model: dict[str, Totals] = {}
    by_code: dict[str, int] = {}
    cells: dict[tuple, dict] = {}  # (day, model) → its rows' sums
    model_keys, currencies, stored = set(), set(), False
    if from_rollup:  # (day, model) rows, and the error codes and currencies apart: ~5 rows a day, not ~30
        rows = [*rollup.day_model_rows(scope), *grouped_rows(scope, streaming=True)]
        by_code, currencies = rollup.errors_by_code(scope), rollup.currencies(scope)
        stored = bool(currencies)
    else:
        rows = grouped_rows(scope)
    for row in rows:
        model_keys.add(row["model_key"])
        if scope.model_key and row["model_key"] != scope.model_key:
            continue
        add_to_cell(cells, row)
        for name, per_model in measure_counts.items():
            per_model[row["model_key"]] = per_model.get(row["model_key"], 0) + row[f"{name}_count"]
        if from_rollup:
            continue
        if row["errors"]:
            by_code[row["error_code"]] = by_code.get(row["error_code"], 0) + row["errors"]
        if row["stored_cost"] is not None:
            stored = True
            currencies.add(row["currency"] or "(no currency)")

    for (day, key), cell in cells.items():  # priced once per day and model (~1,800 a year), not per row (~11,000)
        cost = row_cost(cell, price_list.get(key))
        by_day.setdefault(day, Totals()).add(cell, cost)
        by_model.setdefault(key, Totals()).add(cell, cost)
    for day_totals in by_day.values():  # the total from the ~366 days, not once more per row (~11,000 over a year)
        total.merge(day_totals)
    # The rollup may count answers whose messages are gone (purge_history): the percentiles count their own rows.
    rows_in_range = sum(t.requests for t in by_model.values()) if from_rollup else 0
    measured = percentiles_by_model(messages, MEASURES, counts=None if from_rollup else measure_counts,
                                    rows_in_range=rows_in_range)
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
    if from_rollup:
        user_rows = [*rollup.per_user_and_model(scope), *user_model_rows(messages.filter(status=Message.Status.STREAMING))]
        group_rows = rollup.per_group_and_model(scope)
    else:
        user_rows, group_rows = user_model_rows(messages), group_model_rows(messages)
    top_users, blocked_users = spenders(user_rows, price_list)
    running, running_count = running_streams(scope)
    return Usage(
        scope=scope,
        total=total,
        days=sorted(by_day.items()),
        models=models,
        errors=errors,
        top_users=top_users,
        blocked_users=blocked_users,
        groups=group_spend(group_rows, price_list),
        running=running,
        running_count=running_count,
        priced=bool(price_list) or stored,
        currencies=sorted(currencies),
        model_keys=sorted(model_keys),
        from_rollup=from_rollup,
        sampled_every=aggregates.sample_step(rows_in_range),
    )


def user_model_rows(messages) -> list[dict]:
    return list(messages.values("user_id", "model_key").annotate(**sums()).order_by())


def group_model_rows(messages) -> list[dict]:
    """Per group (today's members) and model, from the messages; an answer counts in each group of its user."""
    rows = list(messages.filter(user__groups__isnull=False).values("user__groups", "user__groups__name", "model_key")
                .annotate(**sums()).order_by())
    for row in rows:
        row["group_id"], row["group__name"] = row.pop("user__groups"), row.pop("user__groups__name")
    return rows


def add_up(rows: list[dict], key: str, price_list: dict) -> dict:
    """{key value: {requests, blocked, input_sum, output_sum, tokens, cost}} from rows per (key, model)."""
    found = {}
    for row in rows:
        entry = found.setdefault(row[key], {key: row[key], "requests": 0, "blocked": 0, "input_sum": 0, "output_sum": 0,
                                            "cost": None})
        for name in ("requests", "blocked", "input_sum", "output_sum"):
            entry[name] += row[name] or 0
        cost = row_cost(row, price_list.get(row["model_key"]))
        if cost is not None:
            entry["cost"] = (entry["cost"] or Decimal(0)) + cost
        for extra in ("group__name",):
            if extra in row:
                entry[extra] = row[extra]
    for entry in found.values():
        entry["tokens"] = entry["input_sum"] + entry["output_sum"]
        entry["cost_label"] = money(entry["cost"])
    return found


def spenders(rows: list[dict], price_list: dict) -> tuple[list[dict], list[dict]]:
    """The top users by tokens (with their estimated cost), and the users with the most blocked answers."""
    per_user = add_up(rows, "user_id", price_list)
    top_users = sorted(per_user.values(), key=lambda row: (-row["tokens"], row["user_id"]))[:TOP_USERS]
    blocked_users = sorted((row for row in per_user.values() if row["blocked"]),
                           key=lambda row: (-row["blocked"], row["user_id"]))[:TOP_USERS]
    ids = {row["user_id"] for row in top_users + blocked_users}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")) if ids else {}
    for row in top_users + blocked_users:
        row["user__username"] = names.get(row["user_id"], f"user {row['user_id']}")
    return top_users, blocked_users


def group_spend(rows: list[dict], price_list: dict) -> list[dict]:
    """Spend per group, the most expensive first (then by tokens, then by name)."""
    per_group = add_up(rows, "group_id", price_list).values()
    return sorted(per_group, key=lambda row: (-(row["cost"] or 0), -row["tokens"], row["group__name"]))


def running_streams(scope: Scope) -> tuple[list, int]:
    """The oldest streaming messages (of the chosen model and user, whatever the dates) and how many there are."""
    streaming = scope.narrow(Message.objects.streaming())
    running = list(streaming.select_related("user").order_by("created")[:RUNNING_SHOWN])
    now = timezone.now()
    for message in running:
        # A run checkpoints every few seconds; one that has gone quiet is probably dead (see recover_streams).
        message.quiet_seconds = (now - (message.heartbeat_at or message.created)).total_seconds()
        message.stale = message.quiet_seconds > settings.STREAM_STALE_SECONDS
    return running, len(running) if len(running) < RUNNING_SHOWN else streaming.count()


def money(value) -> str:
    return "–" if value is None else f"{float(value):,.2f}" if value >= 1 else f"{float(value):.4f}"
