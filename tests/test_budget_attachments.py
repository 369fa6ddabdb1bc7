"""A budget's reservation counts the prompt's files (a PDF by its pages, an image by its pixels, other
documents by their size), so a prompt whose files would not fit is refused before anything is sent."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Budget, BudgetCounter, Message
from tests.attachment_files import HAIKU, attachment_storage, image_bytes, pdf_bytes, stored
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["attachment_storage"]

PROMPT_TOKENS = 3  # "Hello there": 11 characters at four a token


async def test_a_pdf_that_would_not_fit_is_refused_and_the_prompt_without_it_is_answered(
        bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    await Budget.objects.acreate(user=alice, period="day", max_tokens=6_000)
    report = await sync_to_async(stored)(alice, "report.pdf", pdf_bytes("Page one.", "Page two."))
    socket = await socket_for(alice)

    await socket.send_json_to(prompt_frame(attachments=[report.pk], params={"max_tokens": 500}))
    frame = await socket.receive_json_from(timeout=10)
    assert frame["type"] == "error" and frame["code"] == "budget_exceeded", frame
    assert frame["budget"]["needed"] == PROMPT_TOKENS + 2 * 3_000 + 500  # two pages at 3,000 tokens at most
    assert await Message.objects.acount() == 0 and bedrock.requests == []

    bedrock.queue(Stream(deltas=["Fine."], input_tokens=3, output_tokens=2))
    await socket.send_json_to(prompt_frame(request_id="req-2", params={"max_tokens": 500}))
    assert (await receive_until_done(socket))[-1]["status"] == "complete"


async def test_an_image_is_reserved_by_its_pixels(bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    await Budget.objects.acreate(user=alice, period="month", max_tokens=100_000)
    picture = await sync_to_async(stored)(alice, "chart.png", image_bytes("PNG", size=(300, 250)))
    bedrock.queue(Stream(deltas=["A chart."], first_delay=0.5, input_tokens=120, output_tokens=3))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(attachments=[picture.pk], params={"max_tokens": 200}))
    assert (await socket.receive_json_from(timeout=10))["type"] == "started"
    counter = await BudgetCounter.objects.aget()
    assert counter.reserved_tokens == PROMPT_TOKENS + 100 + 200  # 300 × 250 pixels at 750 a token
    assert (await receive_until_done(socket))[-1]["status"] == "complete"
