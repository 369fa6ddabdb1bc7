"""Staff set each model's request options in admin; a bad value is refused with a message on its field
and nothing is saved."""

import pytest

from chat.models import CatalogEntry

pytestmark = pytest.mark.django_db

SONNET_4 = "anthropic.claude-sonnet-4-20250514-v1:0"


def entry_form(**fields) -> dict:
    form = {"key": "sonnet", "label": "Sonnet", "provider": "bedrock-converse", "model_id": SONNET_4,
            "defaults": "{}", "enabled": "on", "position": "100", "guardrail_trace": "on"}
    return form | fields


def post(client, staff, **fields):
    client.force_login(staff)
    return client.post("/admin/chat/catalogentry/add/", entry_form(**fields))


def test_all_options_are_saved_and_offered(client, staff):
    response = post(client, staff, reasoning_budget="2048", guardrail_identifier="gr7abc", guardrail_version="DRAFT",
                    guardrail_stream_mode="async", performance_latency="optimized", service_tier="flex",
                    prompt_caching="off", cite_documents="on", legacy_on="2026-01-01", end_of_life_on="2027-01-01")

    assert response.status_code == 302, response.content.decode()[:3000]
    entry = CatalogEntry.objects.get(key="sonnet")
    assert entry.request_overrides() == {
        "reasoning_budget": 2048, "performance_latency": "optimized", "service_tier": "flex", "prompt_caching": "off",
        "cite_documents": "on", "guardrail": {"identifier": "gr7abc", "version": "DRAFT", "trace": True, "stream_mode": "async"}}
    model = client.get("/api/models/").json()["models"]
    sonnet = next(m for m in model if m["key"] == "sonnet")
    assert sonnet["reasoning"] == {"supported": True, "default_budget": 2048}
    assert sonnet["lifecycle"]["end_of_life_on"] == "2027-01-01"


@pytest.mark.parametrize(("fields", "field", "words"), [
    pytest.param({"service_tier": "turbo"}, "service_tier", "Select a valid choice", id="bad-service-tier"),
    pytest.param({"performance_latency": "fast"}, "performance_latency", "Select a valid choice", id="bad-latency"),
    pytest.param({"guardrail_stream_mode": "later"}, "guardrail_stream_mode", "Select a valid choice", id="bad-mode"),
    pytest.param({"prompt_caching": "yes"}, "prompt_caching", "Select a valid choice", id="bad-caching"),
    pytest.param({"cite_documents": "always"}, "cite_documents", "Select a valid choice", id="bad-citations"),
    pytest.param({"reasoning_budget": "512"}, "reasoning_budget", "At least 1,024 tokens", id="budget-too-small"),
    pytest.param({"reasoning_budget": "4000"}, "reasoning_budget", "must be below max_tokens (4,000)",
                 id="budget-not-below-max-tokens"),
    pytest.param({"reasoning_budget": "2048", "model_id": "meta.llama3-8b-instruct-v1:0"}, "reasoning_budget",
                 "We know no reasoning setting", id="model-does-not-reason"),
    pytest.param({"defaults": '{"reasoning_budget": 2048}'}, "defaults", "in its own field", id="budget-in-defaults"),
    pytest.param({"legacy_on": "2026-05-01", "end_of_life_on": "2026-04-01"}, "end_of_life_on",
                 "cannot come before the legacy date", id="end-before-legacy"),
    pytest.param({"guardrail_identifier": "gr7abc"}, "guardrail_version", "needs its version", id="no-version"),
    pytest.param({"guardrail_version": "2"}, "guardrail_identifier", "needs the guardrail", id="no-identifier"),
    pytest.param({"guardrail_identifier": "My_Guardrail", "guardrail_version": "1"}, "guardrail_identifier",
                 "lower-case letters and digits", id="bad-identifier"),
    pytest.param({"guardrail_identifier": "gr7abc", "guardrail_version": "v1"}, "guardrail_version",
                 "version number", id="bad-version"),
    pytest.param({"provider": "local", "model_id": "", "service_tier": "flex"}, "service_tier", "Only Bedrock models",
                 id="local-with-tier"),
    pytest.param({"provider": "local", "model_id": "", "guardrail_identifier": "gr7abc", "guardrail_version": "1"},
                 "guardrail_identifier", "Only Bedrock models", id="local-with-guardrail"),
])
def test_bad_options_are_refused_on_their_field(client, staff, fields, field, words):
    response = post(client, staff, **fields)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert not CatalogEntry.objects.filter(key="sonnet").exists()


def test_the_settings_budget_must_fit_the_entrys_max_tokens(client, staff, settings):
    settings.BEDROCK_REASONING_BUDGET = 2048
    response = post(client, staff, defaults='{"max_tokens": 1000}')

    assert response.status_code == 200
    [message] = response.context["adminform"].form.errors["defaults"]
    assert message.startswith("The reasoning budget (from BEDROCK_REASONING_BUDGET), 2,048 tokens, must be below max_tokens")
    assert post(client, staff, defaults='{"max_tokens": 1000}', reasoning_budget="0").status_code == 302  # off for it
