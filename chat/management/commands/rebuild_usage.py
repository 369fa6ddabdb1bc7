"""Recount the per-day usage rollup (chat.models.usage) from the messages.

Needed only if the rollup was changed by hand or messages were loaded around the app (a restore, a bulk
import): answers that settle in the app are counted as they settle. It can run while the app serves:
on PostgreSQL answers settling meanwhile wait for it, then add to the new rows. Note that purge_history
keeps the rollup (spend history outlives the text), and a rebuild after a purge counts only what is left.
"""

import time

from django.core.management import BaseCommand

from chat.models import Message, UsageDay, UsageMonth, UsageTotalDay
from chat.models.usage_rebuild import rebuild


class Command(BaseCommand):
    help = "Recount the per-day usage rollup (dashboard, spend export) from every message."

    def handle(self, *args, **options):
        started = time.monotonic()
        rows = rebuild(Message, UsageDay, UsageTotalDay, UsageMonth)
        self.stdout.write(f"Rebuilt the usage rollup: {rows} row(s) in {time.monotonic() - started:.1f} s.")
