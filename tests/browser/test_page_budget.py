"""The page shows what is left of the user's tightest budget, refreshed when an answer ends, warns once 80% of
it is used, and a prompt the budget cannot hold ends with the server's sentence saying what is left."""

import pytest

from tests.bedrock_server import Stream
from tests.browser.conftest import LiveApp, last_turn, screenshot, send, wait_status, watched_page
from tests.servers import manage

PRICED = """
from chat.models import CatalogEntry
CatalogEntry.objects.create(key='priced', label='Priced model', provider='bedrock-converse', model_id='test.priced-v1',
                            price_per_1k_input='0.003', price_per_1k_output='0.015', defaults={'max_tokens': 1000},
                            position=1)
"""


@pytest.fixture(scope="module")
def live_app(bedrock_server, tmp_path_factory):
    """An app of its own: a priced model first in the picker would change every other browser test's page."""
    app = LiveApp(tmp_path_factory.mktemp("budget-app"))
    manage(app.env, "shell", "-c", PRICED)
    yield app
    app.daphne.stop()


@pytest.fixture
def budget_page(browser, live_app, bedrock_server):
    """A page for a new user with a monthly budget of $0.05."""
    bedrock_server.reset()
    username, password = live_app.new_user()
    manage(live_app.env, "shell", "-c",
           "from django.contrib.auth import get_user_model; from chat.models import Budget; "
           f"Budget.objects.create(user=get_user_model().objects.get(username='{username}'), period='month', "
           "max_cost='0.05')")
    context, page, errors = watched_page(browser, viewport={"width": 1200, "height": 800}, locale="en-US")
    page.goto(f"{live_app.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_function("() => document.querySelector('#connection').dataset.state === 'connected'")
    page.select_option("#model", "priced")
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def budget_text(page) -> str:
    return " ".join(page.locator("#budget").inner_text().split())


def wait_budget(page, fragment: str):
    page.wait_for_function("text => document.querySelector('#budget').textContent.includes(text)", arg=fragment,
                           timeout=15_000)


def test_the_budget_left_shows_is_refreshed_after_each_answer_and_warns_at_80_percent(budget_page, bedrock_server):
    page = budget_page
    wait_budget(page, "$0.05 of $0.05 left this month")
    assert page.locator("#budget").get_attribute("data-level") == "ok"
    assert "resets" in budget_text(page)

    bedrock_server.queue(Stream(deltas=["First."], input_tokens=1000, output_tokens=1000))  # 0.003 + 0.015
    send(page, "Spend some")
    wait_status(page, "complete")
    wait_budget(page, "$0.03 of $0.05 left")  # 0.032
    assert page.locator("#budget").get_attribute("data-level") == "ok"

    bedrock_server.queue(Stream(deltas=["Second."], input_tokens=1000, output_tokens=1400))  # 0.003 + 0.021
    send(page, "Spend more")
    wait_status(page, "complete")
    wait_budget(page, "84% used.")
    assert page.locator("#budget").get_attribute("data-level") == "warn"
    assert budget_text(page).startswith("84% used. Your budget: $0.01 of $0.05 left this month")
    screenshot(page, "budget-warning")

    send(page, "One more")  # 0.042 spent + up to 0.015009 does not fit 0.05: refused before the call
    wait_status(page, "error")
    assert "could cost up to 0.02 USD, and your monthly budget has 0.01 USD of 0.05 USD left" in last_turn(page).inner_text()
    assert page.locator("#prompt").input_value() == "One more"  # given back, as for any refused prompt
    assert page.locator("#budget").get_attribute("data-level") == "warn"
