"""Conversations: a user's threads of turns."""

from django.conf import settings
from django.db import models
from django.utils import timezone

TITLE_LENGTH = 80


class ConversationQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's own conversations that they have not deleted."""
        return self.filter(user=user, deleted_at__isnull=True)


class Conversation(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(default=timezone.now)
    # A user's delete hides the conversation from them; staff keep the record until purge_history.
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated"]

    def __str__(self):
        return self.title or f"Conversation {self.pk}"

    @staticmethod
    def title_from(prompt: str) -> str:
        first_line = " ".join(prompt.split())
        return first_line if len(first_line) <= TITLE_LENGTH else first_line[: TITLE_LENGTH - 1] + "…"
