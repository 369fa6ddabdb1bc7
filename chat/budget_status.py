"""Where a user's budgets stand, for the page (GET /api/budget/) and the admin: read only, no locks, no
counter created (a budget not used this period yet reads its spend so far)."""

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from chat.budgets import WARN_AT, ZERO, Charge, Limit, limit_of, limits_for, period_bounds, spend_so_far
from chat.models.budgets import Budget, BudgetCounter
from chat.pricing import amount_text


def used(limit: Limit, start: datetime, end: datetime, user=None) -> Charge:
    """Spent and reserved in the period: the counter's if it exists, else the spend so far."""
    counter = BudgetCounter.objects.filter(key=limit.key, period_start=start).first()
    if counter is not None:
        return Charge(counter.spent_cost + counter.reserved_cost, counter.spent_tokens + counter.reserved_tokens)
    if limit.scope == "group":
        return spend_so_far(start=start, end=end, group_id=limit.group_id)
    return spend_so_far(start=start, end=end, user=user)


def standing(limit: Limit, user=None, now: datetime | None = None) -> dict:
    """One budget's standing: limits, used and left in money and/or tokens, the share used of the
    tighter of the two, and when it resets."""
    start, end = period_bounds(limit.period, now or timezone.now())
    spent = used(limit, start, end, user)
    result = {"scope": limit.scope, "group": limit.group_name or None, "period": limit.period,
              "resets_at": end.isoformat().replace("+00:00", "Z"), "money": None, "tokens": None}
    shares = []
    if limit.max_cost is not None:
        left = max(ZERO, limit.max_cost - spent.cost)
        result["money"] = {"limit": amount_text(limit.max_cost), "used": amount_text(spent.cost),
                           "left": amount_text(left), "currency": settings.PRICE_CURRENCY}
        shares.append(float(spent.cost / limit.max_cost) if limit.max_cost else 1.0)
    if limit.max_tokens is not None:
        result["tokens"] = {"limit": limit.max_tokens, "used": spent.tokens, "left": max(0, limit.max_tokens - spent.tokens)}
        shares.append(spent.tokens / limit.max_tokens if limit.max_tokens else 1.0)
    result["used_share"] = round(min(1.0, max(shares)), 4)
    return result


def for_user(user) -> dict:
    """Every budget of the user, and the tightest (the largest share used) with the warning threshold."""
    budgets = [standing(limit, user) for limit in limits_for(user)]
    tightest = max(budgets, key=lambda budget: budget["used_share"], default=None)
    return {"budgets": budgets, "tightest": tightest, "warn_at": WARN_AT}


def for_budget(budget: Budget) -> dict:
    """A Budget row's standing this period (the admin's column)."""
    return standing(limit_of(budget), budget.user if budget.user_id else None)
