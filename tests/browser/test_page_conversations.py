"""Multi-turn: a second prompt continues the conversation, and the sidebar lists it."""

from tests.bedrock_server import Stream
from tests.browser.conftest import send, wait_status


def test_second_prompt_continues_the_conversation_listed_in_the_sidebar(page, live_app, bedrock_server):
    bedrock_server.queue(Stream(deltas=["Paris", "."]), Stream(deltas=["About ", "2 million."]))
    send(page, "Capital of France?")
    wait_status(page, "complete")
    page.wait_for_selector("#conversation-list .conversation-item")
    assert "Capital of France?" in page.inner_text("#conversation-list")

    send(page, "And its population?")
    wait_status(page, "complete")
    assert page.locator("article.turn").count() == 2
    assert page.locator("#conversation-list .conversation-item").count() == 1  # the same conversation
    sent = bedrock_server.requests[-1].body["messages"]
    assert [m["content"][0]["text"] for m in sent] == ["Capital of France?", "Paris.", "And its population?"]

    page.reload()  # the open conversation comes back with both turns
    page.wait_for_function("() => document.querySelectorAll('article.turn').length === 2")
    assert "2 million." in page.inner_text("#turns")
