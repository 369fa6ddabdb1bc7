"""A 20,000-character answer streams in small deltas without freezing the page."""

from tests.bedrock_server import Stream
from tests.browser.conftest import answer_text, message_id, send, wait_status

PARAGRAPH = ("Streaming **markdown** with `code`, lists and [links](https://example.com). " * 3 + "\n\n")
TEXT = (PARAGRAPH * 100)[:20_000]


def test_long_answer_has_no_long_tasks(page, live_app, bedrock_server):
    deltas = [TEXT[i:i + 20] for i in range(0, len(TEXT), 20)]  # 1,000 deltas
    bedrock_server.queue(Stream(deltas=deltas, delay=0.002))
    page.evaluate("""() => {
        window.__longTasks = [];
        new PerformanceObserver(list => list.getEntries().forEach(e => window.__longTasks.push(e.duration)))
            .observe({type: 'longtask', buffered: true});
    }""")
    send(page, "Write a lot")
    wait_status(page, "complete", timeout=60_000)
    page.wait_for_timeout(500)  # let the last frame render and be measured
    long_tasks = page.evaluate("window.__longTasks")
    largest = max(long_tasks, default=0)
    print(f"\nlong tasks over 50 ms while streaming 20,000 characters: {len(long_tasks)}, largest {largest:.0f} ms")
    assert largest <= 200, long_tasks
    assert live_app.saved(message_id(page))["response"] == TEXT
    # Rendered, the markdown marks and link targets are gone (about 12,000 characters show).
    assert len(answer_text(page)) > 10_000 and "Streaming markdown with code" in answer_text(page)
