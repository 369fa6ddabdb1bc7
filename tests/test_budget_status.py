"""Where budgets stand, as the page reads it (GET /api/budget/) and staff see it in admin: used (answers spent
and reserved) and left, the tightest budget, when it resets; only the user's own budgets and groups."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from chat.models import usage
from chat.models import Budget, CatalogEntry, Conversation, Message
from tests.conftest import TEST_MODEL_ID

pytestmark = pytest.mark.django_db


def spent(user, cost: str, tokens: int = 0, created=None) -> None:
    conversation = Conversation.objects.create(user=user, title="t")
    message = Message.objects.create(conversation=conversation, user=user, prompt="p", model_key="m", model_id="m",
                           provider="bedrock-converse", client_request_id=f"r{Message.objects.count()}",
                           status="complete", cost=Decimal(cost), input_tokens=tokens, output_tokens=0,
                                     created=created or timezone.now())
    usage.record(message)  # as Message.finish counts a settled answer


def budget_json(client, user) -> dict:
    client.force_login(user)
    response = client.get("/api/budget/")
    assert response.status_code == 200
    return response.json()


def test_no_budget_nothing_to_show(client, alice):
    assert budget_json(client, alice) == {"budgets": [], "tightest": None, "warn_at": 0.8}


def test_the_tightest_budget_is_the_one_most_used(client, alice, bob):
    team = Group.objects.create(name="Team")
    alice.groups.add(team)
    Budget.objects.create(user=alice, period="month", max_cost=Decimal("10"))
    Budget.objects.create(group=team, period="week", max_tokens=1000)
    Budget.objects.create(user=bob, period="day", max_cost=Decimal("1"))  # not Alice's business
    spent(alice, "2", tokens=850)

    status = budget_json(client, alice)
    assert len(status["budgets"]) == 2
    tightest = status["tightest"]
    assert (tightest["scope"], tightest["group"], tightest["period"]) == ("group", "Team", "week")
    assert tightest["tokens"] == {"limit": 1000, "used": 850, "left": 150}
    assert tightest["used_share"] == 0.85 and tightest["resets_at"].endswith("T00:00:00Z")
    own = next(budget for budget in status["budgets"] if budget["scope"] == "user")
    assert own["money"] == {"limit": "10", "used": "2", "left": "8", "currency": "USD"}


def test_the_default_budget_shows_for_a_user_without_their_own(client, alice, settings):
    settings.DEFAULT_USER_BUDGET_USD_MONTHLY = Decimal("5")
    spent(alice, "4.5")
    tightest = budget_json(client, alice)["tightest"]
    assert (tightest["scope"], tightest["used_share"], tightest["money"]["left"]) == ("default", 0.9, "0.5")


def test_last_periods_spend_is_not_this_periods(client, alice):
    Budget.objects.create(user=alice, period="day", max_cost=Decimal("1"))
    spent(alice, "0.5", created=timezone.now() - timedelta(days=1))
    assert budget_json(client, alice)["tightest"]["money"]["left"] == "1"


def test_the_budget_endpoint_needs_a_session(client):
    assert client.get("/api/budget/").status_code == 401


def test_staff_see_each_budgets_spend_against_its_limit_and_the_unpriced_note(client, staff, alice):
    CatalogEntry.objects.create(key="priced", label="Priced", provider="bedrock-converse", model_id=TEST_MODEL_ID,
                                price_per_1k_input=Decimal("0.003"), price_per_1k_output=Decimal("0.015"))
    CatalogEntry.objects.create(key="free", label="Free Llama", provider="bedrock-converse", model_id="meta.llama-v1")
    Budget.objects.create(user=alice, period="month", max_cost=Decimal("10"), max_tokens=2000)
    spent(alice, "2.5", tokens=500)
    client.force_login(staff)
    page = client.get("/admin/chat/budget/").content.decode()
    assert "2.5 of 10 USD · 500 of 2,000 tokens (25%)" in page
    assert "Models without prices count as zero against money budgets" in page
    assert "Free Llama" in page and "Priced," not in page
    assert "No default budget is set" in page


def test_a_budget_is_for_a_user_or_a_group_with_a_limit(client, staff, alice):
    team = Group.objects.create(name="Team")
    client.force_login(staff)
    both = client.post("/admin/chat/budget/add/", {"user": alice.pk, "group": team.pk, "period": "month", "max_cost": "5"})
    assert "Choose a user or a group, not both." in both.content.decode()
    no_limit = client.post("/admin/chat/budget/add/", {"group": team.pk, "period": "month"})
    assert "Set a money limit, a token limit, or both." in no_limit.content.decode()
    assert not Budget.objects.exists()
    client.post("/admin/chat/budget/add/", {"group": team.pk, "period": "week", "max_tokens": "100000"})
    assert Budget.objects.get().group == team
