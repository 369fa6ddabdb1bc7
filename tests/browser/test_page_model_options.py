"""The picker marks legacy and retired models; the Parameters panel offers a reasoning budget to a model that
reasons, checks it before anything is sent, and the budget reaches Bedrock's request."""

import pytest

from tests.browser.conftest import LiveApp, wait_status
from tests.servers import manage

REASONER = "anthropic.claude-3-7-sonnet-20250219-v1:0"  # a model AWS documents extended thinking for
RETIRED = "cohere.command-text-v14"  # the seed's model, past its end of life (chat/bedrock_options.py)
ENTRIES = f"""
from datetime import date
from chat.models import CatalogEntry
CatalogEntry.objects.create(key='thinker', label='Thinker', provider='bedrock-converse', model_id='{REASONER}',
                            defaults={{'max_tokens': 4000, 'temperature': 0.5}}, reasoning_budget=2048)
CatalogEntry.objects.create(key='old', label='Old model', provider='bedrock-converse', model_id='test.old-model-v1',
                            legacy_on=date(2024, 1, 1), end_of_life_on=date(2099, 12, 31))
CatalogEntry.objects.create(key='seed', label='Seed Cohere', provider='bedrock-invoke', model_id='{RETIRED}')
"""


@pytest.fixture(scope="module")
def live_app(bedrock_server, tmp_path_factory):
    """An app of its own: the catalog entries below would change the picker of every other browser test."""
    app = LiveApp(tmp_path_factory.mktemp("catalog-app"))
    manage(app.env, "shell", "-c", ENTRIES)
    yield app
    app.daphne.stop()


def option(page, key: str):
    return page.locator(f"#model option[value='{key}']")


def pick(page, key: str):
    page.select_option("#model", key)


def open_params(page):
    if not page.evaluate("() => document.querySelector('#params').open"):
        page.click("#params > summary")


def test_legacy_and_retired_models_are_marked_in_the_picker(page):
    page.wait_for_function("() => document.querySelector(\"#model option[value='seed']\")?.disabled === true")
    retired = option(page, "seed")
    assert "retired Aug 12, 2025" in retired.inner_text()
    assert "no longer answers" in retired.get_attribute("title")
    legacy = option(page, "old")
    assert "legacy, ends Dec 31, 2099" in legacy.inner_text()
    assert not legacy.is_disabled()
    assert page.locator("#model-note").is_hidden()  # the default model is active

    pick(page, "old")
    note = page.locator("#model-note")
    assert note.is_visible()
    assert "Old model is a legacy model: it reaches its end of life on Dec 31, 2099" in note.inner_text()
    # The picker is described by the note, so a screen reader hears it with the choice.
    assert page.get_attribute("#model", "aria-describedby") == "model-note"
    pick(page, "thinker")
    assert note.is_hidden()


def test_reasoning_budget_is_offered_only_to_a_model_that_reasons(page):
    page.wait_for_function("() => document.querySelector(\"#model option[value='seed']\")?.disabled === true")
    open_params(page)
    budget = page.locator("#param-reasoning_budget")
    assert page.locator("#param-reasoning_budget-field").is_hidden()  # the test model does not reason
    pick(page, "thinker")
    assert budget.is_visible() and budget.input_value() == "2048"
    # While it reasons, the sampling settings the model refuses are off, and a sentence says so.
    assert page.locator("#param-temperature").is_disabled()
    assert page.locator("#param-reasoning-note").is_visible()
    budget.fill("0")
    assert page.locator("#param-temperature").is_enabled()
    assert page.locator("#param-reasoning-note").is_hidden()

    pick(page, "old")
    assert page.locator("#param-reasoning_budget-field").is_hidden()


@pytest.mark.parametrize(("value", "says"), [
    ("500", "from 1024"),
    ("4000", "must be less than 'max_tokens' (4000)"),
])
def test_a_bad_budget_is_refused_before_anything_is_sent(page, bedrock_server, value, says):
    page.wait_for_function("() => document.querySelector(\"#model option[value='seed']\")?.disabled === true")
    pick(page, "thinker")
    open_params(page)
    page.fill("#param-reasoning_budget", value)
    page.fill("#prompt", "Think hard")
    page.click("#go")
    error = page.locator("#param-error")
    error.wait_for(state="visible")
    assert says in error.inner_text()
    assert page.get_attribute("#param-reasoning_budget", "aria-invalid") == "true"
    assert page.locator("article.turn").count() == 0
    assert page.input_value("#prompt") == "Think hard"  # nothing lost
    assert bedrock_server.requests == []


def test_the_budget_reaches_bedrock_as_the_models_thinking_field(page, bedrock_server):
    page.wait_for_function("() => document.querySelector(\"#model option[value='seed']\")?.disabled === true")
    pick(page, "thinker")
    open_params(page)
    page.fill("#param-reasoning_budget", "3000")
    page.fill("#prompt", "Think, then answer")
    page.click("#go")
    wait_status(page, "complete")
    [request] = bedrock_server.requests
    assert request.body["additionalModelRequestFields"]["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert "temperature" not in request.body.get("inferenceConfig", {})
