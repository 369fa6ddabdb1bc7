"""Retention: delete conversations (with their messages) whose last activity is older than a given age.

A conversation with a message still streaming is left alone: its run would write the message back.
Each deleted conversation is recorded in Django's admin log (a DELETION entry naming this command),
as done by the first superuser, since an admin log entry needs a user. The entry's label is
"Conversation <id>", never the title, so the log keeps none of the deleted text.

The files attached to the purged messages go with them (chat.models.attachments deletes a file once no
row uses it, when the batch commits), and so do uploads never sent with a prompt that are older than the age.
"""

import re
from datetime import timedelta

from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from chat.models import Attachment, Conversation, Message

BATCH = 500
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text.lower())
    if not match or int(match[1]) == 0:
        raise CommandError(f"--older-than {text!r}: use a whole number and h, d or w, e.g. 90d, 12h, 8w")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = "Delete conversations (and their messages) whose last activity is older than --older-than (e.g. 90d)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE", help="Nh, Nd or Nw, e.g. 90d.")
        parser.add_argument("--dry-run", action="store_true", help="Print what would be deleted; delete nothing.")

    def handle(self, *args, older_than, dry_run, **options):
        cutoff = timezone.now() - parse_age(older_than)
        streaming = Message.objects.filter(conversation=OuterRef("pk"), status=Message.Status.STREAMING)
        old = Conversation.objects.filter(updated__lt=cutoff)
        purgeable = old.exclude(Exists(streaming))
        skipped = old.filter(Exists(streaming)).count()
        actor = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        when = timezone.localtime(cutoff).strftime("%Y-%m-%d %H:%M %Z")

        unsent = Attachment.objects.filter(message__isnull=True, created__lt=cutoff)
        if dry_run:
            conversations = purgeable.count()
            message_count = Message.objects.filter(conversation__in=purgeable).count()
            attachment_count = Attachment.objects.filter(conversation__in=purgeable).count() + unsent.count()
            self.stdout.write(
                f"Dry run: would delete {conversations} conversation(s) and {message_count} message(s) "
                f"with no activity since {when} (older than {older_than}). Nothing was deleted."
            )
            if attachment_count:
                self.stdout.write(f"It would delete {attachment_count} attachment(s) and their files with them.")
            self._report_skipped(skipped)
            if conversations:
                self.stdout.write(
                    f"Each deletion would be recorded in the admin log as done by {self._name(actor)}."
                    if actor else "There is no superuser: a real run would refuse, having nobody to record the deletions as."
                )
            return

        if actor is None and purgeable.exists():
            raise CommandError(
                "No superuser to record the deletions as in the admin log; create one first "
                "(manage.py ensure_admin or createsuperuser). Nothing was deleted."
            )
        change_message = f"Deleted by manage.py purge_history --older-than {older_than}: no activity since {when}."
        conversations = message_total = 0
        attachment_total, _ = unsent.delete()  # uploads never sent: no conversation, nothing to log
        last_pk = 0
        while True:
            # Batches in primary-key order; each re-checks age and streaming inside its transaction.
            with transaction.atomic():
                batch = list(
                    purgeable.filter(pk__gt=last_pk).order_by("pk")
                    .annotate(message_count=Count("messages")).values_list("pk", "user_id", "message_count")[:BATCH]
                )
                if not batch:
                    break
                last_pk = batch[-1][0]
                ids = [pk for pk, _, _ in batch]
                # Unsaved stand-ins: the log shows "Conversation <id>", not the deleted title.
                LogEntry.objects.log_actions(
                    user_id=actor.pk,
                    queryset=[Conversation(pk=pk, user_id=user_id) for pk, user_id, _ in batch],
                    action_flag=DELETION,
                    change_message=change_message,
                )
                attachment_total += Attachment.objects.filter(conversation_id__in=ids).count()
                Conversation.objects.filter(pk__in=ids).delete()  # cascades to messages and attachments
                conversations += len(batch)
                message_total += sum(count for _, _, count in batch)

        self.stdout.write(
            f"Deleted {conversations} conversation(s) and {message_total} message(s) "
            f"with no activity since {when} (older than {older_than})."
        )
        if attachment_total:
            self.stdout.write(f"Deleted {attachment_total} attachment(s) and their files (uploads never sent included).")
        self._report_skipped(skipped)
        if conversations:
            self.stdout.write(
                f"Recorded {conversations} deletion(s) in the admin log (action DELETION) as done by "
                f"{self._name(actor)}, the first superuser, since the log needs a user."
            )

    def _report_skipped(self, skipped: int) -> None:
        if skipped:
            self.stdout.write(f"Kept {skipped} old conversation(s) with a message still streaming.")

    @staticmethod
    def _name(user) -> str:
        return f"superuser {user.get_username()!r} (id {user.pk})"
