"""Text that is not valid Unicode (a lone UTF-16 surrogate, sent as the JSON escape \\ud800) is refused at
the socket and in the catalog form with a clear error; a row that already holds one still exports, as CSV and
as JSON Lines, and shows in admin with the bad character escaped."""

import csv
import io
import json
import urllib.request

import pytest
from asgiref.sync import async_to_sync
from django.db import DataError, connection, transaction
from django.test import AsyncClient

from chat.models import CatalogEntry, Conversation, Message
from tests.servers import Daphne, app_env, manage
from tests.ws import prompt_frame, receive_until_done, text_of

LONE = "\ud800"
EMOJI = "\U0001F600"  # sent as the surrogate pair \ud83d\ude00: valid, and kept

# Each is sent with json.dumps, which writes a lone surrogate as the escape \ud800 (what the red team sent).
FRAMES_WITH_A_LONE_SURROGATE = {
    "system prompt": prompt_frame(params={"system": f"Be brief{LONE}"}),
    "stop sequence": prompt_frame(params={"stop_sequences": ["END", f"{LONE}x"]}),
    "prompt text": prompt_frame(text=f"Hello {LONE}"),
    "a key": prompt_frame(params={f"temperature{LONE}": 0.5}),
    "the request id": prompt_frame(request_id=f"r{LONE}"),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frame", FRAMES_WITH_A_LONE_SURROGATE.values(), ids=FRAMES_WITH_A_LONE_SURROGATE.keys())
async def test_lone_surrogate_anywhere_in_a_frame_is_refused(bedrock, alice, socket_for, frame):
    socket = await socket_for(alice)
    await socket.send_json_to(frame)
    error = await socket.receive_json_from()
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    assert "not valid Unicode" in error["detail"] and error["detail"].endswith(".")
    assert await socket.receive_nothing(timeout=0.05)
    assert await Message.objects.acount() == 0 and bedrock.requests == []

    await socket.send_json_to(prompt_frame("Still there?", request_id="after-error"))
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete" and text_of(frames) == "Hello from the test model."


@pytest.mark.django_db(transaction=True)
async def test_lone_surrogate_in_a_raw_text_frame_is_refused(bedrock, alice, socket_for):
    """A real socket's text is UTF-8, so only a test client can send this; it is refused all the same."""
    socket = await socket_for(alice)
    await socket.send_to(text_data='{"type": "prompt", "id": "raw", "text": "hi' + LONE + '"}')
    error = await socket.receive_json_from()
    assert error["code"] == "invalid_frame"
    assert await Message.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_surrogate_pairs_are_valid_and_kept(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_to(text_data=json.dumps(prompt_frame(f"Smile {EMOJI}", params={"system": f"Use {EMOJI}"})))
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete"
    message = await Message.objects.aget()
    assert message.prompt == f"Smile {EMOJI}" and message.params["system"] == f"Use {EMOJI}"


def store_lone_surrogate(user) -> Message | None:
    """A row as the unchecked socket stored it: SQLite keeps a lone surrogate inside a JSON field (as the
    escape \\ud800); PostgreSQL's jsonb refuses it, so no such row can exist there."""
    conversation = Conversation.objects.create(user=user, title="Surrogates")
    try:
        with transaction.atomic():
            return Message.objects.create(
                conversation=conversation, user=user, prompt="hi", response="An answer", status="complete",
                model_key="local", model_id="local", provider="local", client_request_id="s1",
                params={"system": f"a{LONE}b", "stop_sequences": [f"{LONE}"]},
            )
    except DataError:
        assert connection.vendor == "postgresql"
        return None


def exported(client, fmt: str) -> str:
    response = client.get(f"/admin/chat/message/export.{fmt}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")  # strict: the file is valid UTF-8


@pytest.mark.django_db
def test_row_with_a_lone_surrogate_exports_as_csv_and_jsonl(client, alice, staff):
    message = store_lone_surrogate(alice)
    if message is None:
        pytest.skip("PostgreSQL refuses lone surrogates in jsonb (checked above): no such row can be stored")
    client.force_login(staff)

    (row,) = csv.DictReader(io.StringIO(exported(client, "csv"), newline=""))
    assert row["id"] == str(message.pk) and row["response"] == "An answer"
    assert json.loads(row["params"]) == {"system": f"a{LONE}b", "stop_sequences": [LONE]}  # written as \ud800

    (line,) = exported(client, "jsonl").splitlines()
    assert "\\ud800" in line
    assert json.loads(line)["params"] == {"system": f"a{LONE}b", "stop_sequences": [LONE]}


@pytest.mark.django_db
def test_row_with_a_lone_surrogate_exports_under_asgi(alice, staff):
    if store_lone_surrogate(alice) is None:
        pytest.skip("PostgreSQL refuses lone surrogates in jsonb: no such row can be stored")

    async def export(fmt):
        client = AsyncClient()
        await client.aforce_login(staff)
        response = await client.get(f"/admin/chat/message/export.{fmt}")
        return b"".join([chunk async for chunk in response.streaming_content]).decode("utf-8")

    assert "\\ud800" in async_to_sync(export)("csv")
    assert json.loads(async_to_sync(export)("jsonl"))["params"]["system"] == f"a{LONE}b"


def test_export_with_a_lone_surrogate_ends_under_daphne(tmp_path):
    """As staff see it: the download finishes (before the fix, daphne never ended the response)."""
    env = app_env(DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL="")
    manage(env, "migrate", "--noinput")
    script = (
        "from django.contrib.auth import get_user_model; from django.test import Client;"
        "from tests.test_lone_surrogates import store_lone_surrogate;"
        "staff = get_user_model().objects.create_superuser('sam', password='pw-sam-123');"
        "store_lone_surrogate(staff); client = Client(); client.force_login(staff);"
        "print(client.cookies['sessionid'].value)"
    )
    cookie = manage(env, "shell", "-c", script).strip().splitlines()[-1]
    server = Daphne(env).start()
    try:
        for fmt in ("csv", "jsonl"):
            request = urllib.request.Request(f"{server.url}/admin/chat/message/export.{fmt}",
                                             headers={"Cookie": f"sessionid={cookie}"})
            with urllib.request.urlopen(request, timeout=20) as response:
                body = response.read().decode("utf-8")
            assert "\\ud800" in body and "An answer" in body
    finally:
        server.stop()


@pytest.mark.django_db
def test_row_with_a_lone_surrogate_shows_escaped_in_admin(client, alice, staff):
    """The message page showed its system prompt and parameters, then failed to encode them: a 500."""
    message = store_lone_surrogate(alice)
    if message is None:
        pytest.skip("PostgreSQL refuses lone surrogates in jsonb: no such row can be stored")
    client.force_login(staff)

    page = client.get(f"/admin/chat/message/{message.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode("utf-8")  # strict: the page is valid UTF-8
    assert '<pre class="history-text">a\\ud800b</pre>' in html  # the system prompt, its bad character escaped
    assert '&quot;stop_sequences&quot;: [\n    &quot;\\ud800&quot;\n  ]' in html  # the parameters, escaped alike

    listed = client.get("/admin/chat/message/")
    assert listed.status_code == 200 and f"/admin/chat/message/{message.pk}/change/" in listed.content.decode("utf-8")
    conversation = client.get(f"/admin/chat/conversation/{message.conversation_id}/change/")
    assert conversation.status_code == 200 and "An answer" in conversation.content.decode("utf-8")


def test_every_admin_display_of_stored_text_escapes_what_utf8_cannot_encode():
    """Text columns cannot hold a lone surrogate on either database (the drivers refuse to write one), so an
    unsaved message stands in for a row of any other origin: each display the message list, the message
    page and the conversation page show is escaped, none would fail to encode."""
    from django.contrib.admin.sites import site

    from chat.admin.conversations import MessageInline

    message = Message(pk=7, conversation=Conversation(pk=3, title=f"t{LONE}"), prompt=f"p{LONE}",
                      response=f"r{LONE}", error_detail=f"e{LONE}", params={"system": f"s{LONE}", f"k{LONE}": 1})
    admin = site._registry[Message]
    shown = {
        "list prompt": admin.prompt_preview(message), "list answer": admin.answer_preview(message),
        "list conversation": admin.conversation_link(message), "prompt": admin.full_prompt(message),
        "answer": admin.answer(message), "system prompt": admin.system_prompt(message),
        "parameters": admin.parameters(message), "error detail": admin.error_text(message),
        "conversation title": site._registry[Conversation].title_or_id(message.conversation),
        "inline prompt": MessageInline(Conversation, site).prompt_preview(message),
        "inline answer": MessageInline(Conversation, site).answer_preview(message),
    }
    for name, text in shown.items():
        assert "\\ud800" in text and text.encode("utf-8"), name


@pytest.mark.django_db
@pytest.mark.parametrize("defaults", ['{"stop_sequences": ["\\ud800"]}', '{"\\ud800": 1}', '{"system": "a\\udfffb"}'])
def test_catalog_form_refuses_a_lone_surrogate_in_default_parameters(client, staff, defaults):
    client.force_login(staff)
    response = client.post("/admin/chat/catalogentry/add/", {
        "key": "odd", "label": "Odd", "provider": "bedrock-converse", "model_id": "x.y", "defaults": defaults,
        "enabled": "on", "position": "1",
    })
    assert response.status_code == 200
    assert "These parameters hold text that is not valid Unicode" in response.content.decode("utf-8")
    assert not CatalogEntry.objects.exists()


@pytest.mark.django_db
def test_catalog_entry_with_a_lone_surrogate_shows_escaped_in_admin(client, staff):
    try:
        with transaction.atomic():
            entry = CatalogEntry.objects.create(key="odd", label="Odd", provider="bedrock-converse", model_id="x.y",
                                                defaults={"stop_sequences": [f"a{LONE}"]})
    except DataError:
        pytest.skip("PostgreSQL refuses lone surrogates in jsonb: no such row can be stored")
    client.force_login(staff)
    page = client.get(f"/admin/chat/catalogentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert "{&quot;stop_sequences&quot;: [&quot;a\\ud800&quot;]}" in page.content.decode("utf-8")
