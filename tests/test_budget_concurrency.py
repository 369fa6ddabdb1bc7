"""Many prompts at once against a budget that fits k of them, through real daphne processes: exactly k start,
the rest are refused with `budget_exceeded`, and the settled total never goes above the budget. On PostgreSQL
with two processes (the counter's row lock), and on SQLite with one (its IMMEDIATE transactions)."""

import json
import os
import sqlite3
import threading
import uuid
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from tests.bedrock_server import Stream
from tests.servers import Daphne, app_env, manage, session_cookie

N = 20
BUDGET = Decimal("0.1")
# Each answer reserves and costs exactly 3 input tokens × 0.003 + 1,000 output tokens × 0.015, per 1,000
# (the test model reports what the reservation assumed), so no answer ending early frees room: k is exact.
EACH = Decimal("0.015009")
K = int(BUDGET // EACH)  # 6
SETUP = """
from django.contrib.auth import get_user_model
from chat.models import Budget, CatalogEntry
CatalogEntry.objects.create(key='priced', label='Priced', provider='bedrock-converse', model_id='test.priced-v1',
                            price_per_1k_input='0.003', price_per_1k_output='0.015', defaults={'max_tokens': 1000})
CatalogEntry.objects.create(key='free', label='Free', provider='bedrock-converse', model_id='test.free-v1')
Budget.objects.create(user=get_user_model().objects.get(username='alice'), period='month', max_cost='%s')
""" % BUDGET
LIMITS = {"MAX_CONCURRENT_STREAMS": "100", "PROMPTS_PER_MINUTE": "100", "LOG_LEVEL": "WARNING"}


def slow_exact_answer(_request) -> Stream:
    return Stream(deltas=["Spending", " the", " budget."], delay=0.3, input_tokens=3, output_tokens=1000)


def warm_up(server: Daphne, cookie: str) -> None:
    """One answer of a model without prices (it costs the money budget nothing) creates the budget's
    counter for the period, so the burst's prompts contend for the counter's row, not for creating it."""
    with server.websocket(cookie) as socket:
        socket.send(json.dumps({"type": "prompt", "id": "warm-up", "text": "Hi", "conversation": None, "model": "free"}))
        while json.loads(socket.recv(timeout=60))["type"] != "done":
            pass


def prompts_at_once(servers: list[Daphne], cookie: str, n: int) -> list[dict]:
    """n prompts, each on its own socket, spread over the servers, sent together; each socket's first
    answer (`started` or `error`), and for those started, their `done`."""
    warm_up(servers[0], cookie)
    with ExitStack() as opened:
        sockets = [opened.enter_context(servers[i % len(servers)].websocket(cookie)) for i in range(n)]
        return _burst(sockets)


def _burst(sockets) -> list[dict]:
    n = len(sockets)
    barrier, results = threading.Barrier(n), [None] * n

    def send(i: int) -> None:
        barrier.wait()
        sockets[i].send(json.dumps({"type": "prompt", "id": f"burst-{i}", "text": "Hello there", "conversation": None,
                                    "model": "priced"}))
        first = json.loads(sockets[i].recv(timeout=60))
        done = None
        while first["type"] == "started" and (done is None or done["type"] != "done"):
            done = json.loads(sockets[i].recv(timeout=60))
        results[i] = {"first": first, "done": done}

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def check_exactly_k(results: list[dict], settled: tuple[Decimal, Decimal], messages: int) -> dict:
    started = [r for r in results if r["first"]["type"] == "started"]
    refused = [r for r in results if r["first"].get("code") == "budget_exceeded"]
    spent, reserved = settled
    figures = {"n": N, "k": K, "started": len(started), "refused": len(refused), "settled": spent, "budget": BUDGET}
    print("budget concurrency:", figures)
    assert (len(started), len(refused)) == (K, N - K), figures
    assert all(r["done"]["status"] == "complete" for r in started)
    assert messages == K + 1  # a refused prompt saved nothing (the other one is the warm-up)
    assert reserved == 0 and spent == K * EACH <= BUDGET
    return figures


@pytest.fixture
def exact_answers(bedrock_server):
    bedrock_server.reset()
    bedrock_server.default_answer = slow_exact_answer
    yield
    bedrock_server.default_answer = None


def start_app(env: dict, processes: int, tmp_path: Path) -> tuple[list[Daphne], str]:
    env = env | LIMITS
    manage(env, "migrate", "--noinput")
    cookie = session_cookie(env, "alice")
    manage(env, "shell", "-c", SETUP)
    return [Daphne(env, tmp_path / f"daphne-{i}.log").start() for i in range(processes)], cookie


POSTGRES = os.environ.get("DATABASE_URL", "")


@pytest.fixture
def postgres_database():
    name = f"streamer_budget_{uuid.uuid4().hex[:8]}"
    server = POSTGRES.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


# A slow database: each reservation row takes half a second to write, inside the transaction that checked the budget,
# so the two processes' checks overlap (without the counter's row lock, both would see the same room).
SLOW_RESERVATIONS = """
CREATE FUNCTION slow_reservation() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER slow_reservation BEFORE INSERT ON chat_reservation FOR EACH ROW EXECUTE FUNCTION slow_reservation();
"""


@pytest.mark.skipif(not POSTGRES.startswith("postgres"), reason="needs DATABASE_URL on PostgreSQL")
def test_two_processes_on_postgresql_start_exactly_what_the_budget_holds(postgres_database, exact_answers, tmp_path):
    env = app_env(DATABASE_URL=postgres_database, REDIS_URL=os.environ.get("REDIS_URL", ""), DATA_DIR=str(tmp_path))
    servers, cookie = start_app(env, 2, tmp_path)
    with psycopg.connect(postgres_database, autocommit=True) as db:
        db.execute(SLOW_RESERVATIONS)
    try:
        results = prompts_at_once(servers, cookie, N)
    finally:
        for server in servers:
            server.stop()
    with psycopg.connect(postgres_database) as db:
        settled = db.execute("SELECT spent_cost, reserved_cost FROM chat_budgetcounter").fetchone()
        messages = db.execute("SELECT count(*) FROM chat_message").fetchone()[0]
    check_exactly_k(results, settled, messages)


def test_one_process_on_sqlite_starts_exactly_what_the_budget_holds(exact_answers, tmp_path):
    db_path = tmp_path / "db.sqlite3"
    env = app_env(DATABASE_URL=f"sqlite:///{db_path}", REDIS_URL="", DATA_DIR=str(tmp_path))
    servers, cookie = start_app(env, 1, tmp_path)
    try:
        results = prompts_at_once(servers, cookie, N)
    finally:
        servers[0].stop()
    with sqlite3.connect(db_path) as db:
        spent, reserved = db.execute("SELECT spent_cost, reserved_cost FROM chat_budgetcounter").fetchone()
        messages = db.execute("SELECT count(*) FROM chat_message").fetchone()[0]
    # SQLite does the counter's arithmetic in floating point; the app reads it back rounded to 8 places.
    check_exactly_k(results, (round(Decimal(spent), 8), round(Decimal(reserved), 8)), messages)
