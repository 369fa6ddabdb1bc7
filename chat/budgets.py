"""Budgets enforced before the call: at prompt time the most an answer can cost is reserved against every
budget that applies to the user, in the transaction that saves the prompt, and refused (`budget_exceeded`,
nothing saved) if any budget cannot hold it; when the answer ends the reservation is settled to what it
did cost. Counters are locked while they are checked, so processes cannot overspend together.

Which budgets apply: the user's own (Budget rows for the user, else the settings' monthly default), and
the budget of each of their groups. Periods are UTC calendar days, weeks (from Monday) and months.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from chat.frames import FrameError
from chat.models.budgets import Budget, BudgetCounter, Reservation
from chat.pricing import COST_PLACES, amount_text

ZERO = Decimal(0)
WARN_AT = 0.8  # the page warns once this share of a budget is used
CHARS_PER_TOKEN = 4  # the estimate of input tokens before the model counts them
# Attached files' input tokens, before the model counts them (upper estimates, as a reservation needs):
# an image is scaled to ~1.15 megapixels at most, ~750 pixels a token (Anthropic's vision guide); a PDF
# page is 1,500-3,000 tokens with its image (their PDF guide); zipped office files hold ~4x their size.
IMAGE_PIXELS_PER_TOKEN, IMAGE_MAX_TOKENS = 750, 1_600
PDF_PAGE_TOKENS = 3_000
ZIPPED_FORMATS = ("docx", "xlsx")


@dataclass(frozen=True)
class Limit:
    """One budget as it applies to a user: a Budget row or the settings' default."""

    key: str
    scope: str  # "user", "group" or "default"
    period: str
    max_cost: Decimal | None
    max_tokens: int | None
    group_id: int | None = None
    group_name: str = ""

    def describe(self) -> str:
        owner = f"group {self.group_name}'s" if self.scope == "group" else "your"
        return f"{owner} {PERIOD_WORDS[self.period]} budget"


PERIOD_WORDS = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True)
class Charge:
    cost: Decimal
    tokens: int


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar period holding `now`: [start, end)."""
    day = now.astimezone(dt_timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def default_limit(user) -> Limit | None:
    money, tokens = settings.DEFAULT_USER_BUDGET_USD_MONTHLY, settings.DEFAULT_USER_BUDGET_TOKENS_MONTHLY
    if money is None and tokens is None:
        return None
    return Limit(key=f"default:{user.pk}:month", scope="default", period="month", max_cost=money, max_tokens=tokens)


def limit_of(budget: Budget) -> Limit:
    return Limit(key=f"budget:{budget.pk}:{budget.period}", scope="group" if budget.group_id else "user",
                 period=budget.period, max_cost=budget.max_cost, max_tokens=budget.max_tokens,
                 group_id=budget.group_id, group_name=budget.group.name if budget.group_id else "")


def limits_for(user) -> list[Limit]:
    """Every budget the user is held to: their own (else the default) and each of their groups'."""
    return limits_of(user, Budget.objects.filter(Q(user=user) | Q(group__in=user.groups.all())).select_related("group"))


def limits_of(user, budgets) -> list[Limit]:
    """The limits of these Budget rows (the user's own and their groups'), with the default if none is their own."""
    limits = [limit_of(budget) for budget in budgets]
    if not any(limit.scope == "user" for limit in limits):
        default = default_limit(user)
        if default is not None:
            limits.append(default)
    return limits


def spend_so_far(*, start: datetime, end: datetime, user=None, group_id: int | None = None) -> Charge:
    """What the user's (or the group's) settled answers asked in [start, end) cost, read from the per-day
    usage rollup (periods start at UTC midnight, the rollup's days are UTC days). A group's spend is what
    its members spent while they were in it."""
    from chat.models import UsageDay
    from chat.models.usage import COST_UNITS

    rows = UsageDay.objects.between(start.date(), (end - timedelta(days=1)).date())
    rows = rows.users_own().filter(user=user) if user is not None else rows.filter(group_id=group_id)
    totals = rows.filter(currency__in=(settings.PRICE_CURRENCY, "")).aggregate(  # "": saved without a currency

        cost=Sum("cost_units"), tokens=Sum(F("input_tokens") + F("output_tokens") + F("cache_read_tokens")
                                           + F("cache_write_tokens")))
    return Charge(cost=Decimal(totals["cost"] or 0) / COST_UNITS, tokens=totals["tokens"] or 0)


def _spend_for(limit: Limit, user, start, end) -> Charge:
    if limit.scope == "group":
        return spend_so_far(start=start, end=end, group_id=limit.group_id)
    return spend_so_far(start=start, end=end, user=user)


def locked_counters(user, limits: list[Limit], now: datetime) -> list[tuple[Limit, BudgetCounter]]:
    """The counters of these limits for the periods holding `now`, created on first use with the spend so
    far, and locked in one order (key, period start) so that two prompts never wait on each other."""
    wanted = {(limit.key, period_bounds(limit.period, now)[0]): limit for limit in limits}
    existing = set(BudgetCounter.objects.filter(key__in=[key for key, _ in wanted])
                   .values_list("key", "period_start"))
    missing = []
    for (key, start), limit in wanted.items():
        if (key, start) not in existing:
            spent = _spend_for(limit, user, start, period_bounds(limit.period, now)[1])
            missing.append(BudgetCounter(key=key, period_start=start, spent_cost=spent.cost, spent_tokens=spent.tokens))
    if missing:  # another process may create the same row first: its spend is as good as ours
        BudgetCounter.objects.bulk_create(missing, ignore_conflicts=True)
    counters = (BudgetCounter.objects.select_for_update()
                .filter(key__in=[key for key, _ in wanted]).order_by("key", "period_start"))
    return [(wanted[(counter.key, counter.period_start)], counter) for counter in counters
            if (counter.key, counter.period_start) in wanted]


def file_tokens(file) -> int:
    """The most input tokens an attached file (chat.providers.attached.AttachedFile) is likely to be."""
    if file.kind == "image":
        if file.width and file.height:
            return min(math.ceil(file.width * file.height / IMAGE_PIXELS_PER_TOKEN), IMAGE_MAX_TOKENS)
        return IMAGE_MAX_TOKENS
    if file.format == "pdf" and file.pages:
        return file.pages * PDF_PAGE_TOKENS
    return file.size if file.format in ZIPPED_FORMATS else math.ceil(file.size / CHARS_PER_TOKEN)


def most_it_can_cost(request, params: dict, prices) -> tuple[Charge, int]:
    """(the most the answer can cost, the estimated input tokens): the input estimated at four characters
    a token over what is sent (context and system prompt) plus its files (file_tokens), priced at the
    dearest input price known (a cache write costs more than plain input), plus max_tokens at the output
    price."""
    chars = sum(len(message["text"]) for message in request.messages) + len(request.system or "")
    files = [file for message in request.messages for file in message.get("attachments") or ()]
    input_tokens = math.ceil(chars / CHARS_PER_TOKEN) + sum(file_tokens(file) for file in files)
    max_tokens = params.get("max_tokens") or settings.DEFAULT_MAX_TOKENS
    input_price, output_price, cache_read, cache_write = prices or (None, None, None, None)
    dearest_input = max((price for price in (input_price, cache_read, cache_write) if price is not None), default=ZERO)
    cost = (input_tokens * dearest_input + max_tokens * (output_price or ZERO)) / 1000
    return Charge(cost=cost.quantize(COST_PLACES), tokens=input_tokens + max_tokens), input_tokens


def reserve(message, request, params: dict, now: datetime | None = None, limits: list[Limit] | None = None) -> None:
    """Reserve the answer's most against every budget of its user (`limits`, when already read), or refuse it
    with `budget_exceeded`. Call inside the transaction that saves the message: a refusal rolls the prompt
    back with it."""
    from chat.pricing import prices_for

    limits = limits_for(message.user) if limits is None else limits
    if not limits:
        return
    now = now or timezone.now()
    charge, input_tokens = most_it_can_cost(request, params, prices_for(message.model_key))
    counters = locked_counters(message.user, limits, now)
    for limit, counter in counters:
        refusal = refusal_for(limit, counter, charge, now)
        if refusal is not None:
            refusal.request_id = message.client_request_id
            raise refusal
    for _limit, counter in counters:
        BudgetCounter.objects.filter(pk=counter.pk).update(
            reserved_cost=F("reserved_cost") + charge.cost, reserved_tokens=F("reserved_tokens") + charge.tokens)
    Reservation.objects.bulk_create([
        Reservation(counter=counter, message=message, cost=charge.cost, tokens=charge.tokens,
                    estimated_input_tokens=input_tokens)
        for _limit, counter in counters])


def refusal_for(limit: Limit, counter: BudgetCounter, charge: Charge, now: datetime) -> FrameError | None:
    """`budget_exceeded` if the charge does not fit this budget. An answer that costs nothing (a model
    without prices) fits any money budget: such models count as zero there."""
    resets_at = period_bounds(limit.period, now)[1]
    used_cost = counter.spent_cost + counter.reserved_cost
    used_tokens = counter.spent_tokens + counter.reserved_tokens
    if limit.max_cost is not None and charge.cost > 0 and used_cost + charge.cost > limit.max_cost:
        left = max(ZERO, limit.max_cost - used_cost)
        currency = settings.PRICE_CURRENCY
        detail = (f"This answer could cost up to {money(charge.cost)} {currency}, and {limit.describe()} has "
                  f"{money(left)} {currency} of {money(limit.max_cost)} {currency} left. It resets {when(resets_at)}.")
        fields = {"unit": "money", "currency": currency, "limit": amount_text(limit.max_cost),
                  "left": amount_text(left), "needed": amount_text(charge.cost)}
    elif limit.max_tokens is not None and used_tokens + charge.tokens > limit.max_tokens:
        left = max(0, limit.max_tokens - used_tokens)
        detail = (f"This answer could use up to {charge.tokens:,} tokens, and {limit.describe()} has {left:,} of "
                  f"{limit.max_tokens:,} tokens left. It resets {when(resets_at)}. A lower max tokens may fit.")
        fields = {"unit": "tokens", "limit": limit.max_tokens, "left": left, "needed": charge.tokens}
    else:
        return None
    budget = {"scope": limit.scope, "group": limit.group_name or None, "period": limit.period,
              "resets_at": resets_at.isoformat().replace("+00:00", "Z")} | fields
    return FrameError("budget_exceeded", detail, extra={"budget": budget})


def money(amount: Decimal) -> str:
    """An amount for people: two decimals, more only when it would show as zero."""
    rounded = amount.quantize(Decimal("0.01"))
    return amount_text(amount.quantize(COST_PLACES)) if amount and not rounded else f"{rounded:,}"


def when(moment: datetime) -> str:
    return f"on {moment:%a %d %b %Y} at 00:00 UTC"


def settle(message_ids: list[int]) -> None:
    """Settle the reservations of these finished messages to what they cost (again, by the difference, if
    settled before). Messages still streaming are left for their own end."""
    from chat.models import Message
    from chat.pricing import prices_for

    with transaction.atomic():
        counter_ids = set(Reservation.objects.filter(message_id__in=message_ids).values_list("counter_id", flat=True))
        if not counter_ids:
            return
        list(BudgetCounter.objects.select_for_update().filter(pk__in=counter_ids).order_by("key", "period_start"))
        reservations = (Reservation.objects.select_for_update(of=("self",)).filter(message_id__in=message_ids)
                        .select_related("message").exclude(message__status=Message.Status.STREAMING))
        prices = {}
        for reservation in reservations:
            key = reservation.message.model_key
            if key not in prices:
                prices[key] = prices_for(key)
            _settle_one(reservation, charge_of(reservation.message, reservation.estimated_input_tokens, prices[key]))


def _settle_one(reservation: Reservation, charge: Charge) -> None:
    if reservation.settled_at is None:
        release, before = Charge(reservation.cost, reservation.tokens), Charge(ZERO, 0)
    else:
        release, before = Charge(ZERO, 0), Charge(reservation.charged_cost, reservation.charged_tokens)
    BudgetCounter.objects.filter(pk=reservation.counter_id).update(
        reserved_cost=F("reserved_cost") - release.cost, reserved_tokens=F("reserved_tokens") - release.tokens,
        spent_cost=F("spent_cost") + (charge.cost - before.cost),
        spent_tokens=F("spent_tokens") + (charge.tokens - before.tokens))
    Reservation.objects.filter(pk=reservation.pk).update(
        charged_cost=charge.cost, charged_tokens=charge.tokens, settled_at=timezone.now())


def charge_of(message, estimated_input_tokens: int, prices) -> Charge:
    """What a finished answer cost. With the model's usage: its tokens and cost (kinds without a price at
    zero). Without usage (a stop or a crash cuts the stream before Bedrock counts): nothing if no word
    came, else the estimated input plus the text's tokens at four characters each."""
    counts = (message.input_tokens, message.output_tokens, message.cache_read_input_tokens,
              message.cache_write_input_tokens)
    if message.input_tokens is None or message.output_tokens is None:
        if not message.response and not message.reasoning:
            return Charge(ZERO, 0)
        counts = (estimated_input_tokens, math.ceil((len(message.response) + len(message.reasoning)) / CHARS_PER_TOKEN),
                  None, None)
    tokens = sum(count or 0 for count in counts)
    if message.cost is not None:
        return Charge(message.cost, tokens)
    cost = sum(((count or 0) * (price or ZERO) for count, price in zip(counts, prices or ())), ZERO) / 1000
    return Charge(cost.quantize(COST_PLACES), tokens)
