"""What a batch of prompts needs read before it saves them, read once for the whole batch (issue #16).

Each prompt used to read for itself: its resent request id, its user's groups, two limit counts and its
budgets, five statements of the ORM's CPU a prompt on the one database thread. Here each is one statement
for the batch (inside its transaction, so as fresh as before), and the prompts saved in the batch are
counted as they are saved: a user's two prompts in one batch still count each other, and the second of two
with one request id is answered as a resend.
"""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone

from chat.frames import FrameError


class BatchReads:
    """Read once for the prompts of `users` and `request_ids`; asked per prompt."""

    def __init__(self, users: list, request_ids: list[str]):
        from chat import budgets
        from chat.models import Budget, Message
        from chat.models.turns import stale_before

        user_ids = sorted({user.pk for user in users})
        self.existing = {
            (message.user_id, message.client_request_id): message
            for message in Message.objects.filter(user_id__in=user_ids, client_request_id__in=set(request_ids))
            .select_related("conversation")
        }
        self.groups = defaultdict(set)
        for user_id, group_id in get_user_model().groups.through.objects.filter(user_id__in=user_ids).values_list(
                "user_id", "group_id"):
            self.groups[user_id].add(group_id)
        self.running = dict(Message.objects.filter(user_id__in=user_ids).live(stale_before()).values("user_id")
                            .annotate(count=Count("pk")).values_list("user_id", "count"))
        self.recent = defaultdict(list)
        window_start = timezone.now() - timedelta(minutes=1)
        for user_id, created in (Message.objects.filter(user_id__in=user_ids, created__gte=window_start)
                                 .order_by("created").values_list("user_id", "created")):
            self.recent[user_id].append(created)
        all_groups = set().union(*self.groups.values())
        budgets_of = defaultdict(list)  # in Budget's order, as budgets.limits_for reads them
        for budget in Budget.objects.filter(Q(user_id__in=user_ids) | Q(group_id__in=all_groups)).select_related("group"):
            for user_id in user_ids:
                if budget.user_id == user_id or budget.group_id in self.groups[user_id]:
                    budgets_of[user_id].append(budget)
        self.limits = {user.pk: budgets.limits_of(user, budgets_of[user.pk]) for user in users}

    def resent(self, user, request_id: str):
        """The message saved for this request id before (or earlier in this batch), if any."""
        return self.existing.get((user.pk, request_id))

    def group_ids(self, user) -> frozenset:
        return frozenset(self.groups[user.pk])

    def check_limits(self, user, request_id: str) -> None:
        """Per-user limits, counted in the database (and in this batch) so they hold across processes."""
        running = self.running.get(user.pk, 0)
        if running >= settings.MAX_CONCURRENT_STREAMS:
            raise FrameError(
                "too_many_streams",
                f"You already have {running} answers streaming. Wait for one to finish, or stop one.",
                request_id,
            )
        window_start = timezone.now() - timedelta(minutes=1)
        recent = [created for created in self.recent[user.pk] if created >= window_start]
        if len(recent) >= settings.PROMPTS_PER_MINUTE:
            wait = max(1, round((recent[0] - window_start).total_seconds()))
            raise FrameError(
                "rate_limited",
                f"You have sent {len(recent)} prompts in the last minute. Please wait {wait} seconds.",
                request_id,
            )

    def saved(self, message) -> None:
        """Count a prompt this batch has saved, for the prompts after it."""
        self.existing[(message.user_id, message.client_request_id)] = message
        self.counted(message.user, message.created)

    def counted(self, user, created=None) -> None:
        """Count a prompt of the user's in this batch (saved, or sure to be) in their limits."""
        self.running[user.pk] = self.running.get(user.pk, 0) + 1
        self.recent[user.pk].append(created or timezone.now())

    def counts(self) -> tuple:
        return dict(self.existing), dict(self.running), {user_id: list(times) for user_id, times in self.recent.items()}

    def restore(self, counts: tuple) -> None:
        """Back to counts() as it was (the prompts saved or counted since were rolled back)."""
        existing, running, recent = counts
        self.existing, self.running = dict(existing), dict(running)
        self.recent = defaultdict(list, {user_id: list(times) for user_id, times in recent.items()})

    def plain(self, prompts: list[tuple]) -> bool:
        """Whether these (user, prompt) can be saved together (MessageQuerySet.start_new_turns): each opens a
        new conversation with no files, no user has a budget, and no request id comes twice."""
        ids = {(user.pk, prompt.request_id) for user, prompt in prompts}
        return (len(ids) == len(prompts) and not any(self.limits[user.pk] for user, _ in prompts)
                and not any(prompt.conversation_id is not None or prompt.attachments for _, prompt in prompts))
