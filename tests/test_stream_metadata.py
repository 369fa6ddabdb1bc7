"""What else a Converse stream tells reaches `done` and the database: the citations of its sources, the
model a prompt router picked, and Bedrock's own latency."""

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

ROUTED_TO = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"


async def done_of(socket_for, user) -> dict:
    socket = await socket_for(user)
    await socket.send_json_to(prompt_frame("What does the handbook say?"))
    return (await receive_until_done(socket))[-1]


async def test_citations_reach_done_and_are_saved(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["Leave is ", "25 days."], citations=[
        {"title": "Handbook", "source": "s3://hr/handbook.pdf", "sourceContent": [{"text": "25 days of leave"}],
         "location": {"documentPage": {"documentIndex": 0, "start": 3, "end": 3}}},
        {"title": "Policy", "sourceContent": [{"text": "Leave accrues "}],
         "location": {"documentChar": {"documentIndex": 1, "start": 10, "end": 52}}},
        {"sourceContent": [{"text": "monthly."}]},  # the same citation's text, continued
        {"title": "Intranet",
         "location": {"web": {"url": "https://intranet.example/leave", "domain": "intranet.example"}}},
        {"title": "Notes", "location": {"documentChunk": {"documentIndex": 0, "start": 2, "end": 4}}},
    ]))
    done = await done_of(socket_for, alice)

    assert done["status"] == "complete"
    assert done["citations"] == [
        {"title": "Handbook", "source": "s3://hr/handbook.pdf", "location": "page 3", "text": "25 days of leave"},
        {"title": "Policy", "source": "", "location": "document 1, characters 10–52", "text": "Leave accrues monthly."},
        {"title": "Intranet", "source": "", "location": "https://intranet.example/leave", "text": ""},
        {"title": "Notes", "source": "", "location": "chunks 2–4", "text": ""},
    ]
    assert (await Message.objects.aget(pk=done["message"])).citations == done["citations"]


async def test_the_model_a_prompt_router_picked_is_named(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["Routed."], trace={"promptRouter": {"invokedModelId": ROUTED_TO}}))
    done = await done_of(socket_for, alice)

    assert done["invoked_model"] == ROUTED_TO
    assert (await Message.objects.aget(pk=done["message"])).invoked_model == ROUTED_TO


async def test_bedrocks_own_latency_is_kept_beside_ours(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["Quick."], latency_ms=321))
    done = await done_of(socket_for, alice)

    assert done["metrics"]["server_latency_ms"] == 321
    assert (await Message.objects.aget(pk=done["message"])).server_latency_ms == 321


async def test_a_plain_answer_has_none_of_them(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["Plain."]))
    done = await done_of(socket_for, alice)

    assert "citations" not in done and "invoked_model" not in done
    message = await Message.objects.aget(pk=done["message"])
    assert (message.citations, message.invoked_model) == ([], "")
