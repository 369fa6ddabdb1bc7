"""Budgets staff set per user and per group, with each one's spend this period against its limit."""

from django.conf import settings
from django.contrib import admin

from chat import budget_status, catalog, pricing
from chat.models import Budget

UNPRICED_NOTE = ("Models without prices count as zero against money budgets (token budgets still apply to "
                 "them): give a model its prices in the catalog to have its answers count.")


def unpriced_models() -> list[str]:
    """The labels of the models on offer that have no price."""
    return [model.label for model in catalog.available_models() if pricing.prices_for(model.key) is None]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("owner", "period", "money_limit", "token_limit", "this_period")
    list_filter = ("period",)
    list_select_related = ("user", "group")
    search_fields = ("user__username", "group__name")
    fieldsets = ((None, {"fields": ("user", "group", "period", "max_cost", "max_tokens"),
                         "description": UNPRICED_NOTE}),)

    @admin.display(description="for", ordering="group__name")
    def owner(self, budget):
        return budget.owner_text

    @admin.display(description="money limit", ordering="max_cost")
    def money_limit(self, budget):
        return "—" if budget.max_cost is None else f"{budget.max_cost:,.2f} {settings.PRICE_CURRENCY}"

    @admin.display(description="token limit", ordering="max_tokens")
    def token_limit(self, budget):
        return "—" if budget.max_tokens is None else f"{budget.max_tokens:,}"

    @admin.display(description="this period: used of limit")
    def this_period(self, budget):
        standing = budget_status.for_budget(budget)
        parts = []
        if standing["money"]:
            money = standing["money"]
            parts.append(f"{money['used']} of {money['limit']} {money['currency']}")
        if standing["tokens"]:
            tokens = standing["tokens"]
            parts.append(f"{tokens['used']:,} of {tokens['limit']:,} tokens")
        return f"{' · '.join(parts)} ({standing['used_share']:.0%}), resets {standing['resets_at'][:10]}"

    def changelist_view(self, request, extra_context=None):
        extra = {"unpriced_note": UNPRICED_NOTE, "unpriced_models": unpriced_models(),
                 "default_money": settings.DEFAULT_USER_BUDGET_USD_MONTHLY,
                 "default_tokens": settings.DEFAULT_USER_BUDGET_TOKENS_MONTHLY, "currency": settings.PRICE_CURRENCY}
        return super().changelist_view(request, extra | (extra_context or {}))
