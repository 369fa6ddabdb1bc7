"""Files in the prompt, as a person uses them: attach a PDF with the file chooser or paste a screenshot, see a
chip for each (name, size, Remove), send, watch the answer stream from the real test Bedrock server (which gets
the exact bytes), see the files on the turn and again after a reload; errors stay next to their chip with
nothing lost; staff find the files on the admin message page."""

import base64
import re

import pytest

from tests.attachment_files import EXE_BYTES, image_bytes, pdf_bytes
from tests.bedrock_server import Stream
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import LiveApp, answer_text, last_turn, message_id, send, screenshot, staff_page, wait_status
from tests.servers import manage

VISION = """
from chat.models import CatalogEntry
CatalogEntry.objects.create(key='vision', label='Vision model', provider='bedrock-converse', model_id='test.vision-v1',
                            takes_images='on', takes_documents='on')
"""
PDF = pdf_bytes("Revenue grew 12% in Q3.")
PNG = image_bytes("PNG", size=(40, 30), color=(20, 120, 200))

# A paste as the browser delivers one: a ClipboardEvent whose DataTransfer holds the image file, and no text.
PASTE_IMAGE = """async ([b64]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], 'image.png', {type: 'image/png'}));
    const event = new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true});
    document.querySelector('#prompt').dispatchEvent(event);
    return event.defaultPrevented;
}"""


@pytest.fixture(scope="module")
def live_app(bedrock_server, tmp_path_factory):
    """An app of its own: a model that takes files, beside the default one that takes none."""
    app = LiveApp(tmp_path_factory.mktemp("attachments-app"))
    manage(app.env, "shell", "-c", VISION)
    yield app
    app.daphne.stop()


def chips(page):
    return page.locator("#attachments .chip")


def choose_files(page, *files):
    with page.expect_file_chooser() as chooser:
        page.click("#attach")
    chooser.value.set_files([{"name": name, "mimeType": mime, "buffer": data} for name, mime, data in files])


def wait_ready(page, count: int):
    page.wait_for_function("n => document.querySelectorAll('#attachments .chip[data-state=ready]').length === n", arg=count)


def sent_content(bedrock_server) -> list[dict]:
    """The user turn's content blocks the test Bedrock server received last."""
    return bedrock_server.requests[-1].body["messages"][-1]["content"]


def test_a_pdf_by_the_file_chooser_goes_with_the_prompt_and_stays_on_the_turn(page, live_app, bedrock_server):
    page.select_option("#model", "vision")
    choose_files(page, ("Q3 report.pdf", "application/pdf", PDF))
    wait_ready(page, 1)
    chip = chips(page).first
    assert chip.locator(".chip-name").inner_text() == "Q3 report.pdf"
    assert chip.locator(".chip-size").inner_text() == f"{len(PDF)} B"
    assert chip.locator(".chip-remove").get_attribute("aria-label") == "Remove Q3 report.pdf"
    screenshot(page, "attachments-chip")

    bedrock_server.queue(Stream(deltas=["Revenue ", "grew ", "12%."], delay=0.05))
    send(page, "Summarise this report")
    wait_status(page, "complete")
    assert answer_text(page) == "Revenue grew 12%."
    assert chips(page).count() == 0 and page.locator("#attachments").is_hidden()  # sent with the prompt
    documents = [block["document"] for block in sent_content(bedrock_server) if "document" in block]
    assert len(documents) == 1 and documents[0]["format"] == "pdf"
    assert base64.b64decode(documents[0]["source"]["bytes"]) == PDF  # the exact bytes reached Bedrock

    link = last_turn(page).locator(".turn-attachments a")
    assert link.inner_text().startswith("Q3 report.pdf")
    href = link.get_attribute("href")
    download = page.request.get(f"{live_app.url}{href}")
    assert download.body() == PDF and download.headers["content-disposition"].startswith("attachment")

    page.reload()  # the same from history
    wait_status(page, "complete")
    assert last_turn(page).locator(".turn-attachments a").get_attribute("href") == href
    assert_accessible(page)


def test_a_pasted_screenshot_shows_as_a_thumbnail_and_reaches_the_model(page, bedrock_server):
    page.select_option("#model", "vision")
    page.fill("#prompt", "What is in this screenshot?")
    assert page.evaluate(PASTE_IMAGE, [base64.b64encode(PNG).decode()]) is True  # the paste became a file
    wait_ready(page, 1)
    assert page.input_value("#prompt") == "What is in this screenshot?"  # the text is untouched
    assert re.fullmatch(r"Pasted image \d\d\.\d\d\.\d\d\.png", chips(page).first.locator(".chip-name").inner_text())
    page.wait_for_function("() => document.querySelector('#attachments .chip-thumb')?.naturalWidth === 40")

    bedrock_server.queue(Stream(deltas=["A ", "blue ", "square."], delay=0.05))
    page.click("#go")
    wait_status(page, "streaming")
    wait_status(page, "complete")
    assert answer_text(page) == "A blue square."
    images = [block["image"] for block in sent_content(bedrock_server) if "image" in block]
    assert len(images) == 1 and images[0]["format"] == "png"
    assert base64.b64decode(images[0]["source"]["bytes"]) == PNG
    # The turn's thumbnail is the file itself, from our endpoint (the page's CSP allows it).
    page.wait_for_function("() => { const img = document.querySelector('article.turn:last-of-type .turn-attachment-thumb');"
                           " return img && img.complete && img.naturalWidth === 40; }")
    assert last_turn(page).locator(".turn-attachment-thumb").get_attribute("alt").startswith("Pasted image")
    screenshot(page, "attachments-thumbnail")


def test_errors_stay_next_to_their_chip_and_nothing_is_lost(page, live_app, bedrock_server):
    page.expected_errors = ["the server responded with a status of 415"]  # the refused upload, as Chromium logs it
    page.select_option("#model", "vision")
    page.fill("#prompt", "Read both")
    choose_files(page, ("notes.txt", "text/plain", b"Meeting at noon.\n"),
                 ("invoice.pdf", "application/pdf", EXE_BYTES),  # a program renamed .pdf
                 ("huge.pdf", "application/pdf", b"%PDF-1.4\n" + b"0" * 5_000_000))
    page.wait_for_function("() => document.querySelectorAll('#attachments .chip[data-state=error]').length === 2")
    wait_ready(page, 1)
    fake, huge = chips(page).nth(1), chips(page).nth(2)
    assert "not a PDF" in fake.locator(".chip-error").inner_text()  # the server's own sentence
    assert huge.locator(".chip-error").inner_text() == "This document is 5.0 MB; the most a model takes is 4.5 MB."
    assert_accessible(page)  # error chips included

    requests = len(bedrock_server.requests)
    page.click("#go")  # refused here: the problem is said, the prompt and the files stay
    problem = page.locator("#attachments-problem")
    assert "remove them" in problem.inner_text()
    assert page.input_value("#prompt") == "Read both" and chips(page).count() == 3
    assert page.locator("article.turn").count() == 0 and len(bedrock_server.requests) == requests
    screenshot(page, "attachments-errors")

    fake.locator(".chip-remove").click()
    page.locator("#attachments .chip[data-state=error] .chip-remove").click()
    assert chips(page).count() == 1 and problem.is_hidden()
    assert page.evaluate("document.activeElement.className") == "chip-remove"  # the keyboard stays on the chips

    # A model that takes no documents (the default test model's family is unknown) is named before sending.
    page.select_option("#model", [v for v in page.locator("#model option").evaluate_all("os => os.map(o => o.value)")
                                  if v != "vision"][0])
    page.click("#go")
    assert "does not take documents" in problem.inner_text() and "notes.txt" in problem.inner_text()
    assert page.locator("article.turn").count() == 0

    # Removing an uploaded file removes it from the server too.
    attachment_id = chips(page).first.get_attribute("data-attachment-id")
    with page.expect_response(lambda response: response.request.method == "DELETE") as deleted:
        chips(page).first.locator(".chip-remove").click()
    assert deleted.value.status == 204
    assert page.request.get(f"{live_app.url}/api/attachments/{attachment_id}/").status == 404
    assert chips(page).count() == 0 and page.locator("#attachments").is_hidden()
    assert page.evaluate("document.activeElement.id") == "prompt"


DROP_FILE = """async ([b64, name, type]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, {type}));
    return data;
}"""


def test_a_file_dropped_on_the_chat_is_attached(page):
    page.select_option("#model", "vision")
    data = page.evaluate_handle(DROP_FILE, [base64.b64encode(PDF).decode(), "dropped.pdf", "application/pdf"])
    page.dispatch_event("#turns", "dragenter", {"dataTransfer": data})
    assert "drop-target" in page.get_attribute("#composer", "class")  # the composer shows where it goes
    page.dispatch_event("#turns", "dragover", {"dataTransfer": data})
    page.dispatch_event("#turns", "drop", {"dataTransfer": data})
    wait_ready(page, 1)
    assert chips(page).first.locator(".chip-name").inner_text() == "dropped.pdf"
    assert "drop-target" not in page.get_attribute("#composer", "class")


RECORD_PROGRESS = """() => {
    window.__progress = [];
    new MutationObserver((changes) => {
        for (const change of changes) {
            if (change.target.matches?.('progress.chip-progress')) window.__progress.push(change.target.value);
        }
    }).observe(document.querySelector('#attachments'), {subtree: true, attributes: true, attributeFilter: ['value']});
}"""


def test_a_large_upload_shows_its_progress(page):
    page.evaluate(RECORD_PROGRESS)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": 1_000_000})  # bytes per second
    data = b"region,revenue\n" + b"north,1200\n" * 300_000  # 3.3 MB of CSV
    choose_files(page, ("sales.csv", "text/csv", data))
    progress = chips(page).first.locator("progress")
    assert progress.get_attribute("aria-label") == "Uploading sales.csv"
    wait_ready(page, 1)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    seen = page.evaluate("window.__progress")
    assert any(0 < value < 100 for value in seen), seen  # it moved while the file went up
    assert progress.is_hidden()
    assert chips(page).first.locator(".chip-size").inner_text() == "3.3 MB"


def test_staff_see_the_files_on_the_message_page(page, browser, live_app, bedrock_server):
    page.select_option("#model", "vision")
    choose_files(page, ("Q3 report.pdf", "application/pdf", PDF), ("chart.png", "image/png", PNG))
    wait_ready(page, 2)
    bedrock_server.queue(Stream(deltas=["Both ", "read."]))
    send(page, "Compare them")
    wait_status(page, "complete")
    sent = message_id(page)

    context, admin, errors = staff_page(browser, live_app, f"/admin/chat/message/{sent}/change/")
    try:
        links = admin.locator("table.attachment-list a")
        assert sorted(links.all_inner_texts()) == ["Q3 report.pdf", "chart.png"]  # in upload order
        download = admin.request.get(f"{live_app.url}{admin.get_by_role('link', name='chart.png').get_attribute('href')}")
        assert download.body() == PNG
        assert_accessible(admin)
        admin.goto(f"{live_app.url}/admin/chat/message/?attachments=yes")
        listed = {int(pk) for pk in re.findall(r"/admin/chat/message/(\d+)/change/", admin.content())}
        assert sent in listed
        assert all(live_app.saved(pk)["prompt"] in {"Compare them", "Summarise this report", "What is in this screenshot?"}
                   for pk in listed)
    finally:
        context.close()
    assert errors == []
