"""At start-up: close the messages whose run died with its process (a crash, a kill -9) as `interrupted`.

They keep the text of their last checkpoint. With one process (no REDIS_URL) every streaming message
is an orphan at start-up; with several, only those whose heartbeat is stale (the others are running in
another process).
"""

from django.core.management import BaseCommand

from chat.models import Message
from chat.runs import orphans_among


class Command(BaseCommand):
    help = "Mark streaming messages whose run is gone as interrupted, keeping their last checkpoint."

    def handle(self, *args, **options):
        count = orphans_among(Message.objects.all()).mark_interrupted()
        if count:
            self.stdout.write(f"Marked {count} interrupted message(s); their text up to the last checkpoint is kept.")
