"""Time the staff usage dashboard (and the history list and export) over 100,000 or 1,000,000 messages.

Builds a throwaway SQLite database in a new folder under /tmp (DATABASE_URL and DATA_DIR are set
here, so the real database is never touched), bulk-inserts messages spread over users, models, days
and statuses, and times the dashboard view through Django's test Client as a staff user.

    .venv/bin/python bench/dashboard.py [--messages 100000] [--runs 5] [--keep]

With --postgres URL (a database the bench may empty and fill: it drops and recreates every table) the
messages are generated inside PostgreSQL (INSERT … SELECT generate_series: a million took 10 minutes on a loaded 2-core machine)
and the usage rollup is built with `manage.py rebuild_usage`; each dashboard range is then timed twice,
from the rollup and by scanning the messages (the dashboard before the rollup; still the path when
TIME_ZONE is not UTC), in the same run:

    .venv/bin/python bench/dashboard.py --postgres postgres://root@127.0.0.1:5432/bench --messages 1000000 --days 365 --no-export

The target: any dashboard range under 300 ms with 1,000,000 messages on PostgreSQL.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = [  # key, provider, share of traffic, (price in, price out) per 1,000 tokens or None
    ("claude-sonnet", "bedrock-converse", 0.35, (Decimal("0.003"), Decimal("0.015"))),
    ("claude-haiku", "bedrock-converse", 0.25, (Decimal("0.0008"), Decimal("0.004"))),
    ("llama-70b", "bedrock-invoke", 0.15, (Decimal("0.00072"), Decimal("0.00072"))),
    ("nova-lite", "bedrock-converse", 0.15, None),
    ("local", "local", 0.10, None),
]
STATUSES = [("complete", 0.85), ("stopped", 0.05), ("interrupted", 0.02), ("error", 0.07), ("blocked", 0.01)]
ERROR_CODES = ["throttled", "model_error", "timeout", "access_denied", "validation"]
DAYS = 30
USERS = 60
GROUPS = 6  # every user is in one or two of them


def configure(folder: Path, database_url: str | None = None) -> None:
    os.environ["DATA_DIR"] = str(folder)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"  # sqlite:////tmp/...: an absolute path
    os.environ["DJANGO_SETTINGS_MODULE"] = "streamer.settings"
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test Client's "testserver" host through ALLOWED_HOSTS


def fill(count: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from chat.models import CatalogEntry, Conversation, Message

    call_command("migrate", verbosity=0)
    rng = random.Random(2025)
    User = get_user_model()
    User.objects.create_superuser("bench-staff", password="bench-pass-123")
    users = User.objects.bulk_create([User(username=f"user{n:03d}") for n in range(USERS)])
    for key, provider, _, price in MODELS:
        if price:
            CatalogEntry.objects.create(key=key, label=key.replace("-", " ").title(), provider=provider, model_id=f"{key}-id",
                                        price_per_1k_input=price[0], price_per_1k_output=price[1],
                                        price_per_1k_cache_read=price[0] / 10, price_per_1k_cache_write=price[0] * Decimal("1.25"))

    now = timezone.now()
    model_weights = [share for _, _, share, _ in MODELS]
    status_names, status_weights = zip(*STATUSES)
    user_weights = [1 / (n + 1) for n in range(USERS)]  # a few heavy users, a long tail
    with transaction.atomic():
        conversations = Conversation.objects.bulk_create(
            [Conversation(user=rng.choices(users, user_weights)[0], title=f"Conversation {n}") for n in range(count // 5)],
            batch_size=5000,
        )
        batch = []
        # Oldest first, as a real table fills: the primary key follows the creation time.
        moments = sorted(now - timedelta(seconds=rng.uniform(0, DAYS * 86400)) for _ in range(count))
        for n, created in enumerate(moments):
            conversation = conversations[n % len(conversations)]
            key, provider, _, price = rng.choices(MODELS, model_weights)[0]
            status = rng.choices(status_names, status_weights)[0]
            fields = {}
            if status != "error":
                output_tokens = rng.randint(20, 1500)
                ttft = int(rng.lognormvariate(6, 0.5))
                fields = {
                    "input_tokens": rng.randint(10, 4000), "output_tokens": output_tokens, "ttft_ms": ttft,
                    "duration_ms": ttft + int(output_tokens * 1000 / rng.uniform(20, 120)), "stop_reason": "end_turn",
                }
                if price and n % 2:  # half the priced answers were saved with their cost and cache figures (protocol v1.1)
                    fields |= {"cache_read_input_tokens": rng.randint(0, 8000), "cache_write_input_tokens": rng.randint(0, 2000),
                               "currency": "USD"}
                    fields["cost"] = (fields["input_tokens"] * price[0] + output_tokens * price[1]) / 1000
            else:
                fields = {"error_code": rng.choice(ERROR_CODES), "error_detail": "The model could not answer.",
                          "duration_ms": rng.randint(50, 3000)}
            batch.append(Message(
                conversation=conversation, user_id=conversation.user_id, prompt=f"Question {n}: " + "lorem ipsum " * rng.randint(1, 30),
                response="Answer " * rng.randint(0, 200), status=status, model_key=key, model_id=f"{key}-id", provider=provider,
                params={"temperature": 0.3, "max_tokens": 1000}, client_request_id=f"bench-{n}", created=created,
                finished=created + timedelta(milliseconds=fields.get("duration_ms", 0)), **fields,
            ))
            if len(batch) == 10_000:
                Message.objects.bulk_create(batch)
                batch = []
        for n in range(25):  # a few live streams
            batch.append(Message(conversation=conversations[n], user_id=conversations[n].user_id, prompt="Still going",
                                 response="Partial", status="streaming", model_key="claude-sonnet", model_id="x",
                                 provider="bedrock-converse", client_request_id=f"live-{n}", created=now, heartbeat_at=now, seq=n))
        Message.objects.bulk_create(batch)


def timed(client, url: str, runs: int) -> list[float]:
    client.get(url)  # warm-up: templates, connection
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        if response.streaming:
            for _ in response.streaming_content:
                pass
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return times


def export_memory(client, url: str) -> tuple[int, int, float]:
    """Rows, bytes and peak Python memory (MiB) while streaming the whole export."""
    tracemalloc.start()
    response = client.get(url)
    size = rows = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return rows, size, peak


def main() -> None:
    global DAYS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-export", action="store_true", help="Skip timing the two full exports.")
    parser.add_argument("--keep", action="store_true", help="Keep the database folder (printed) afterwards.")
    parser.add_argument("--reuse", type=Path, metavar="FOLDER", help="Time again on a folder kept by --keep (no filling).")
    parser.add_argument("--postgres", metavar="URL", help="Fill and time this PostgreSQL database (emptied first!).")
    parser.add_argument("--reuse-postgres", action="store_true", help="With --postgres: time what is there, no filling.")
    parser.add_argument("--rollup-only", action="store_true", help="Time only the dashboard from the rollup (no scans, lists).")
    parser.add_argument("--days", type=int, default=DAYS, help="The days the messages spread over (PostgreSQL fill).")
    args = parser.parse_args()
    DAYS = args.days
    folder = args.reuse or Path(tempfile.mkdtemp(prefix="streamer-bench-", dir="/tmp"))
    if args.reuse and not (folder / "bench.sqlite3").exists():
        parser.error(f"{folder} holds no bench.sqlite3")
    configure(folder, args.postgres)
    try:
        started = time.perf_counter()
        if args.postgres and not args.reuse_postgres:
            from bench.dashboard_pg import fill_postgres

            fill_postgres(args.messages, DAYS, MODELS, STATUSES, ERROR_CODES, USERS, GROUPS)
        elif not args.reuse and not args.postgres:
            fill(args.messages)
            from django.core.management import call_command

            call_command("rebuild_usage", stdout=open(os.devnull, "w"))
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.db.models import Count
        from django.test import Client

        from django.utils import timezone

        from chat.models import Message

        total = Message.objects.count()
        print(f"Database: {args.postgres or folder / 'bench.sqlite3'}; {total:,} messages over {DAYS} days, {USERS} users, "
              f"{len(MODELS)} models; filled in {time.perf_counter() - started:.1f} s")

        client = Client()
        client.force_login(get_user_model().objects.get(username="bench-staff"))
        heavy_user = Message.objects.values("user_id").annotate(n=Count("pk")).order_by("-n")[0]["user_id"]
        today = timezone.localdate()
        first = (today - timedelta(days=DAYS)).isoformat()
        whole = f"/admin/chat/message/dashboard/?start={first}&end={today.isoformat()}"
        dashboards = [
            ("dashboard, default (last 7 days)", "/admin/chat/message/dashboard/"),
            (f"dashboard, {DAYS + 1} days (every message)", whole),
            (f"dashboard, {DAYS + 1} days, one model", whole + "&model=claude-sonnet"),
            (f"dashboard, {DAYS + 1} days, heaviest user", whole + f"&user={heavy_user}"),
            ("spend.csv per week, whole range", f"/admin/chat/message/dashboard/spend.csv?start={first}&end={today.isoformat()}&period=week"),
            ("spend.csv per month, whole range", f"/admin/chat/message/dashboard/spend.csv?start={first}&end={today.isoformat()}&period=month"),
        ]
        lists = [
            ("history list, first page", "/admin/chat/message/"),
            ("history list, sorted by tokens/s", "/admin/chat/message/?o=-11"),
            ("history list, search 'Question 4242'", "/admin/chat/message/?q=Question+4242"),
        ]
        from chat.dashboard import rollup

        serves = rollup.serves
        print(f"\n{'page':<52} {'min':>8} {'median':>8} {'max':>8}   queries  ({args.runs} runs after a warm-up)")
        cases = [(f"{label} [rollup]", url) for label, url in dashboards]
        if not args.rollup_only:
            cases += [*[(f"{label} [message scan]", url) for label, url in dashboards[:4]], *lists]
        for label, url in cases:
            # The message scan is the dashboard before the rollup (and with TIME_ZONE other than UTC).
            rollup.serves = (lambda scope: False) if "[message scan]" in label else serves
            queries = []
            with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
                client.get(url)
            times = timed(client, url, args.runs)
            print(f"{label:<52} {min(times) * 1000:>6.0f}ms {statistics.median(times) * 1000:>6.0f}ms "
                  f"{max(times) * 1000:>6.0f}ms   {len(queries):>5}", flush=True)
        rollup.serves = serves

        for fmt in () if args.no_export else ("csv", "jsonl"):
            started = time.perf_counter()
            rows, size, peak = export_memory(client, f"/admin/chat/message/export.{fmt}")
            print(f"\nexport.{fmt} of every message: {size / 2**20:.1f} MiB, {rows:,} newlines, "
                  f"{time.perf_counter() - started:.1f} s (with tracemalloc on), peak Python memory {peak:.1f} MiB")
    finally:
        if args.keep or args.reuse:
            print(f"\nKept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
