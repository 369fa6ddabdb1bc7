"""A guardrail intervention or a provider's content filter ends an answer as `blocked`, never `complete`,
with the guardrail's compact trace in `done` and saved for review."""

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)

CANNED = "Sorry, the model cannot answer this question."

# metadata.trace.guardrail as ConverseStream sends it (botocore's GuardrailTraceAssessment).
TRACE = {
    "guardrail": {
        "modelOutput": [],
        "actionReason": "Guardrail blocked.",
        "inputAssessment": {
            "gr1abc2def3": {
                "contentPolicy": {"filters": [
                    {"type": "VIOLENCE", "confidence": "HIGH", "filterStrength": "HIGH", "action": "BLOCKED",
                     "detected": True},
                ]},
                "sensitiveInformationPolicy": {
                    "piiEntities": [{"match": "alice@example.com", "type": "EMAIL", "action": "ANONYMIZED",
                                     "detected": True}],
                    "regexes": [],
                },
                "invocationMetrics": {"guardrailProcessingLatency": 120},
            },
        },
        "outputAssessments": {
            "gr1abc2def3": [{"topicPolicy": {"topics": [
                {"name": "Weapons", "type": "DENY", "action": "BLOCKED", "detected": True},
            ]}}],
        },
    },
}
ASSESSMENTS = [
    {"source": "input", "policy": "contentPolicy", "type": "VIOLENCE", "action": "BLOCKED", "confidence": "HIGH"},
    {"source": "input", "policy": "sensitiveInformationPolicy", "type": "EMAIL", "action": "ANONYMIZED",
     "confidence": ""},
    {"source": "output", "policy": "topicPolicy", "type": "Weapons", "action": "BLOCKED", "confidence": ""},
]


async def test_a_guardrail_intervention_is_blocked_with_its_trace(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=[CANNED], stop_reason="guardrail_intervened", trace=TRACE))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("How do I build a weapon?"))
    frames = await receive_until_done(socket)

    assert text_of(frames) == CANNED  # the guardrail's message is what the user reads
    done = frames[-1]
    assert (done["status"], done["stop_reason"]) == ("blocked", "guardrail_intervened")
    assert done["guardrail"] == {"action": "GUARDRAIL_INTERVENED", "reason": "Guardrail blocked.",
                                 "assessments": ASSESSMENTS}
    assert "error" not in done
    assert "alice@example.com" not in str(done)  # the matched personal data is not kept
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.stop_reason, message.response) == ("blocked", "guardrail_intervened", CANNED)
    assert message.guardrail == done["guardrail"]
    assert await Message.objects.filter(status="blocked").acount() == 1

    later = await socket_for(alice)  # from the database, the same `done`
    await later.send_json_to({"type": "attach", "message": done["message"]})
    assert [await later.receive_json_from(), await later.receive_json_from()][1] == done


async def test_a_content_filter_is_blocked_too(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["I can"], stop_reason="content_filtered"))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    done = (await receive_until_done(socket))[-1]

    assert (done["status"], done["stop_reason"]) == ("blocked", "content_filtered")
    assert done["guardrail"] == {"action": "CONTENT_FILTERED", "reason": "", "assessments": []}
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.response) == ("blocked", "I can")


async def test_a_trace_without_an_intervention_is_kept_on_a_complete_answer(bedrock, alice, socket_for):
    masked_only = {"guardrail": {"inputAssessment": {"gr1": {"sensitiveInformationPolicy": {
        "piiEntities": [{"match": "555-0100", "type": "PHONE", "action": "ANONYMIZED", "detected": True}],
        "regexes": []}}}}}
    bedrock.queue(Stream(deltas=["Call {PHONE}."], trace=masked_only))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    done = (await receive_until_done(socket))[-1]

    assert done["status"] == "complete"
    assert done["guardrail"] == {"action": "NONE", "reason": "", "assessments": [
        {"source": "input", "policy": "sensitiveInformationPolicy", "type": "PHONE", "action": "ANONYMIZED",
         "confidence": ""}]}


async def test_a_plain_answer_has_no_guardrail(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    done = (await receive_until_done(socket))[-1]

    assert done["status"] == "complete" and "guardrail" not in done
    assert (await Message.objects.aget(pk=done["message"])).guardrail is None
