"""Budgets: what a user or a group may spend per UTC day, week or month, in money and/or tokens, and the
rows that enforce them before each call (chat.budgets reserves and settles through these)."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Budget(models.Model):
    """A limit staff set for one user or one group (exactly one of the two) per calendar period (UTC)."""

    class Period(models.TextChoices):
        DAY = "day"
        WEEK = "week", "week (from Monday)"
        MONTH = "month"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="budgets", help_text="Either a user…")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets",
                              help_text="…or a group: each member is limited by it (and by their own budget).")
    period = models.CharField(max_length=5, choices=Period.choices, default=Period.MONTH,
                              help_text="A UTC calendar period: it resets at 00:00 UTC (a week on Monday).")
    max_cost = models.DecimalField(
        "money limit", max_digits=14, decimal_places=4, null=True, blank=True,
        help_text="In PRICE_CURRENCY. Answers of models without prices count as zero here.")
    max_tokens = models.PositiveBigIntegerField(
        "token limit", null=True, blank=True, help_text="Input, output and cache tokens together, every model.")
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["group__name", "user__username", "period"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False),
                name="budget_for_user_or_group", violation_error_message="Choose a user or a group, not both."),
            models.CheckConstraint(condition=Q(max_cost__isnull=False) | Q(max_tokens__isnull=False),
                                   name="budget_has_a_limit",
                                   violation_error_message="Set a money limit, a token limit, or both."),
            models.UniqueConstraint(fields=["user", "period"], condition=Q(user__isnull=False),
                                    name="one_budget_per_user_and_period",
                                    violation_error_message="This user already has a budget for this period."),
            models.UniqueConstraint(fields=["group", "period"], condition=Q(group__isnull=False),
                                    name="one_budget_per_group_and_period",
                                    violation_error_message="This group already has a budget for this period."),
        ]

    def __str__(self):
        return f"{self.owner_text} · {self.period}"

    @property
    def owner_text(self) -> str:
        return f"group {self.group.name}" if self.group_id else f"user {self.user.get_username()}"

    def clean(self):
        if self.max_cost is not None and self.max_cost < 0:
            raise ValidationError({"max_cost": "A limit cannot be negative."})


class BudgetCounter(models.Model):
    """What one budget has used in one period: settled spend (the period's spend before this row existed,
    then each answer as it settles) and what answers still streaming have reserved. Locked (PostgreSQL
    row lock; SQLite's IMMEDIATE transaction) while a prompt checks and reserves against it.

    `key` names the budget: "budget:<id>:<period>" for a Budget row, "default:<user id>:month" for the
    settings' default budget of one user."""

    key = models.CharField(max_length=64)
    period_start = models.DateTimeField()
    spent_cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    spent_tokens = models.BigIntegerField(default=0)
    reserved_cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    reserved_tokens = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "period_start"], name="one_counter_per_budget_period")]

    def __str__(self):
        return f"{self.key} from {self.period_start:%Y-%m-%d}"


class Reservation(models.Model):
    """The most one answer can cost, held on one counter while it streams; settled to what it did cost
    (charged_*) when it ends. Settling again (an interrupted answer whose run finished after all) moves
    the counter by the difference."""

    counter = models.ForeignKey(BudgetCounter, on_delete=models.CASCADE, related_name="reservations")
    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="reservations")
    cost = models.DecimalField(max_digits=18, decimal_places=8)
    tokens = models.BigIntegerField()
    estimated_input_tokens = models.BigIntegerField(default=0)
    charged_cost = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    charged_tokens = models.BigIntegerField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["counter", "message"], name="one_reservation_per_counter")]
