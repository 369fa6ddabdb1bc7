"""Issue #12, item 11: a conversation the user deleted is gone for them on the socket too: `attach` and
`stop` of its messages get `not_found`, and a resent prompt from it starts nothing. Staff still see it in
admin. Through the real ASGI application and the page's own delete endpoint."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

NOT_FOUND = {"type": "error", "id": None, "code": "not_found", "detail": "No such message or conversation."}


def delete_from_the_page(user, conversation_id: int):
    page = Client()
    page.force_login(user)
    assert page.delete(f"/api/conversations/{conversation_id}/").status_code == 204


async def answered(socket, request_id="first") -> dict:
    await socket.send_json_to(prompt_frame(request_id=request_id))
    frames = await receive_until_done(socket)
    return frames[0]


async def test_attach_and_stop_of_a_deleted_conversations_message_are_not_found(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    started = await answered(socket)
    await sync_to_async(delete_from_the_page)(alice, started["conversation"])

    await socket.send_json_to({"type": "attach", "message": started["message"]})
    assert await socket.receive_json_from() == NOT_FOUND
    await socket.send_json_to({"type": "stop", "message": started["message"]})
    assert await socket.receive_json_from() == NOT_FOUND
    assert await socket.receive_nothing(timeout=0.1)


async def test_a_prompt_resent_from_a_deleted_conversation_starts_nothing(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    started = await answered(socket)
    await sync_to_async(delete_from_the_page)(alice, started["conversation"])

    await socket.send_json_to(prompt_frame(request_id="first"))  # the same id: a resend
    assert await socket.receive_json_from() == NOT_FOUND | {"id": "first"}
    assert await Message.objects.acount() == 1


async def test_a_running_answer_in_a_deleted_conversation_cannot_be_reattached(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["word "] * 40, delay=0.02))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    await sync_to_async(delete_from_the_page)(alice, started["conversation"])

    later = await socket_for(alice)  # a reload
    await later.send_json_to({"type": "attach", "message": started["message"]})
    assert await later.receive_json_from() == NOT_FOUND
    assert (await receive_until_done(socket))[-1]["status"] == "complete"  # the answer is still saved


async def test_staff_still_see_a_deleted_conversations_message(bedrock, alice, staff, socket_for):
    socket = await socket_for(alice)
    started = await answered(socket)
    await sync_to_async(delete_from_the_page)(alice, started["conversation"])

    def admin_page():
        reviewer = Client()
        reviewer.force_login(staff)
        return reviewer.get(f"/admin/chat/message/{started['message']}/change/")

    page = await sync_to_async(admin_page)()
    assert page.status_code == 200 and "Hello from the test model." in page.content.decode()
