"""bench/dashboard.py's PostgreSQL fill: messages generated inside the database (INSERT … SELECT generate_series)."""

import json
import os
import time
from decimal import Decimal


def sql_literal(value) -> str:
    """A field's default as an SQL literal (the bench's INSERT … SELECT names every NOT NULL column)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return "'" + text.replace("'", "''") + "'"


def fill_postgres(count: int, days: int, MODELS, STATUSES, ERROR_CODES, USERS: int, GROUPS: int) -> None:
    """Users, groups and prices through the ORM; conversations and messages generated inside PostgreSQL; then
    the rollup from rebuild_usage. Messages are in creation order, as a real table fills."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from chat.models import CatalogEntry, Message

    with connection.cursor() as cursor:  # a clean slate: this database is the bench's
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)
    User = get_user_model()
    User.objects.create_superuser("bench-staff", password="bench-pass-123")
    users = User.objects.bulk_create([User(username=f"user{n:03d}") for n in range(USERS)])
    groups = Group.objects.bulk_create([Group(name=f"team{n}") for n in range(GROUPS)])
    for n, user in enumerate(users):
        user.groups.add(*{groups[n % GROUPS], groups[(n * 7) % GROUPS]})
    for key, provider, _, price in MODELS:
        if price:
            CatalogEntry.objects.create(key=key, label=key.replace("-", " ").title(), provider=provider, model_id=f"{key}-id",
                                        price_per_1k_input=price[0], price_per_1k_output=price[1],
                                        price_per_1k_cache_read=price[0] / 10, price_per_1k_cache_write=price[0] * Decimal("1.25"))

    def cumulative(pairs):  # CASE WHEN r < 0.35 THEN 'a' WHEN r < 0.6 THEN 'b' … over (value, share)
        total, whens = 0.0, []
        for value, share in pairs[:-1]:
            total += share
            whens.append(f"WHEN {{r}} < {total} THEN {value}")
        return "CASE " + " ".join(whens) + f" ELSE {pairs[-1][0]} END"

    model_case = cumulative([(f"'{key}'", share) for key, _, share, _ in MODELS])
    status_case = cumulative([(f"'{name}'", share) for name, share in STATUSES])
    provider_case = "CASE " + " ".join(f"WHEN model_key = '{key}' THEN '{provider}'" for key, provider, _, _ in MODELS) + " END"
    price_in = "CASE " + " ".join(f"WHEN model_key = '{k}' THEN {p[0]}" for k, _, _, p in MODELS if p) + " END"
    price_out = "CASE " + " ".join(f"WHEN model_key = '{k}' THEN {p[1]}" for k, _, _, p in MODELS if p) + " END"
    errors = "ARRAY[" + ", ".join(f"'{code}'" for code in ERROR_CODES) + "]"
    conversations = max(count // 5, 1)
    span = days * 86400
    with connection.cursor() as cursor:
        # A few heavy users, a long tail: user index = floor(USERS ** random()) - 1.
        cursor.execute(f"""
            INSERT INTO chat_conversation (user_id, title, created, updated)
            SELECT (SELECT min(id) FROM auth_user WHERE username LIKE 'user%') + floor(power({USERS}, random()))::int - 1,
                   'Conversation ' || g, now(), now()
            FROM generate_series(1, {conversations}) g""")
        explicit = {
            "conversation_id": "c.id", "user_id": "c.user_id",
            "prompt": "'Question ' || n || ': ' || repeat('lorem ipsum ', 1 + n % 30)",
            "response": "repeat('Answer ', n % 200)", "status": "status", "model_key": "model_key",
            "model_id": "model_key || '-id'", "provider": provider_case.replace("model_key", "s.model_key"),
            "params": "'{\"temperature\": 0.3, \"max_tokens\": 1000}'",
            "input_tokens": "CASE WHEN status <> 'error' THEN inp END",
            "output_tokens": "CASE WHEN status <> 'error' THEN outp END",
            "ttft_ms": "CASE WHEN status <> 'error' THEN ttft END",
            "duration_ms": "CASE WHEN status <> 'error' THEN ttft + (outp * 1000 / speed)::int ELSE 50 + n % 2950 END",
            "stop_reason": "CASE WHEN status <> 'error' THEN 'end_turn' ELSE '' END",
            "error_code": f"CASE WHEN status = 'error' THEN ({errors})[1 + n % {len(ERROR_CODES)}] ELSE '' END",
            "error_detail": "CASE WHEN status = 'error' THEN 'The model could not answer.' ELSE '' END",
            "cache_read_input_tokens": "CASE WHEN costed THEN n % 8000 END",
            "cache_write_input_tokens": "CASE WHEN costed THEN n % 2000 END",
            "cost": f"CASE WHEN costed THEN round((inp * ({price_in.replace('model_key', 's.model_key')}) "
                    f"+ outp * ({price_out.replace('model_key', 's.model_key')})) / 1000, 8) END",
            "currency": "CASE WHEN costed THEN 'USD' ELSE '' END",
            "client_request_id": "'bench-' || n", "created": "s.created",
            "finished": "s.created + interval '1 second'",
        }
        columns, values = [], []
        for field in Message._meta.concrete_fields:
            if field.primary_key:
                continue
            columns.append(field.column)
            if field.column in explicit:
                values.append(explicit[field.column])
            elif field.null:
                values.append("NULL")
            else:
                values.append(sql_literal(field.get_default()))
        cursor.execute(f"""
            INSERT INTO chat_message ({", ".join(columns)})
            SELECT {", ".join(values)}
            FROM (
                SELECT n, model_key, status, inp, outp, ttft, speed, created,
                       status <> 'error' AND model_key IN ({", ".join(f"'{k}'" for k, _, _, p in MODELS if p)}) AND n % 2 = 1 AS costed
                FROM (
                    SELECT g AS n, {model_case.format(r="rm")} AS model_key, {status_case.format(r="rs")} AS status,
                           10 + (random() * 3990)::int AS inp, 20 + (random() * 1480)::int AS outp,
                           (exp(6 + 0.5 * sqrt(-2 * ln(greatest(random(), 1e-9))) * cos(2 * pi() * random())))::int AS ttft,
                           20 + random() * 100 AS speed,
                           now() - make_interval(secs => {span} * (1 - g::float / {count}) + random() * 60) AS created
                    FROM (SELECT g, random() AS rm, random() AS rs FROM generate_series(1, {count}) g) r
                ) t
            ) s
            JOIN chat_conversation c ON c.id = (SELECT min(id) FROM chat_conversation) + s.n % {conversations}""")
    from chat.models import Conversation
    from django.utils import timezone

    now = timezone.now()
    Message.objects.bulk_create([  # a few live streams
        Message(conversation=conversation, user_id=conversation.user_id, prompt="Still going", response="Partial",
                status="streaming", model_key="claude-sonnet", model_id="x", provider="bedrock-converse",
                client_request_id=f"live-{n}", created=now, heartbeat_at=now, seq=n)
        for n, conversation in enumerate(Conversation.objects.order_by("pk")[:25])])
    started = time.perf_counter()
    call_command("rebuild_usage", stdout=open(os.devnull, "w"))
    print(f"rebuild_usage: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
