"""The models staff add to the catalog in admin."""

import re

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from chat import bedrock_options, providers
from chat.frames import has_lone_surrogate
from chat.params import ParamError, validate_params
from chat.providers import local_files

BEDROCK_ONLY = "Only Bedrock models take this: leave it empty for the local model."


def whole_match(pattern: re.Pattern, meaning: str) -> RegexValidator:
    return RegexValidator(re.compile(rf"^(?:{pattern.pattern})\Z"), f"Use {meaning}.")


def with_settings_choice(choices, setting: str) -> list[tuple[str, str]]:
    return [("", f"as {setting} says (else Bedrock's default)")] + [(value, value) for value in choices]


class CatalogEntry(models.Model):
    """A model staff add (or override, by key) in admin; it is offered at once, with no restart."""

    key = models.CharField(
        max_length=200, unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9._:/@-]+$", "Letters, digits and . _ : / @ - only.")],
        help_text="What the page sends; reuse a built-in key (e.g. 'local') to override or disable that model.")
    label = models.CharField(max_length=200)
    provider = models.CharField(max_length=32, choices=providers.PROVIDER_CHOICES)
    model_id = models.CharField(max_length=500, blank=True,
                                help_text="Bedrock model id, inference profile id or ARN; for local, a GGUF path (blank: the bundled model).")
    defaults = models.JSONField(default=dict, blank=True,
                                help_text='Default parameters, e.g. {"max_tokens": 1000, "temperature": 0.3}.')
    system_prompt = models.TextField(blank=True)
    accepts_top_k = models.BooleanField(default=False, help_text="Converse only: the model takes top_k as an additional field.")
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100, help_text="Lower comes first in the picker.")
    price_per_1k_input = models.DecimalField(
        "price per 1,000 input tokens", max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Optional, in your currency: gives the usage dashboard an estimated cost.")
    price_per_1k_output = models.DecimalField(
        "price per 1,000 output tokens", max_digits=12, decimal_places=6, null=True, blank=True)
    price_per_1k_cache_read = models.DecimalField(
        "price per 1,000 cache read input tokens", max_digits=12, decimal_places=6, null=True, blank=True)
    price_per_1k_cache_write = models.DecimalField(
        "price per 1,000 cache write input tokens", max_digits=12, decimal_places=6, null=True, blank=True)
    reasoning_budget = models.PositiveIntegerField(
        "default reasoning budget", null=True, blank=True,
        help_text="Tokens the model may think before it answers, for models that reason (Claude 3.7 Sonnet and 4.x, "
                  "Nova 2): at least 1,024 and below max_tokens. 0: off unless the user turns it on. "
                  "Blank: BEDROCK_REASONING_BUDGET.")
    guardrail_identifier = models.CharField(
        max_length=bedrock_options.GUARDRAIL_ID_MAX_CHARS, blank=True,
        validators=[whole_match(bedrock_options.GUARDRAIL_ID, bedrock_options.GUARDRAIL_ID_HELP)],
        help_text="A Bedrock guardrail id or ARN. Blank: the guardrail of BEDROCK_GUARDRAIL_ID, if one is set.")
    guardrail_version = models.CharField(
        max_length=8, blank=True,
        validators=[whole_match(bedrock_options.GUARDRAIL_VERSION, bedrock_options.GUARDRAIL_VERSION_HELP)],
        help_text="The guardrail's version (1, 2, …) or DRAFT; needed with an identifier.")
    guardrail_trace = models.BooleanField(
        default=True, help_text="Ask for the guardrail's assessments, so reviewers see why an answer was blocked.")
    guardrail_stream_mode = models.CharField(
        max_length=8, blank=True,  # blank: sync, Bedrock's default
        choices=[("", "sync: checked before it is shown (slower)"),
                 ("async", "async: shown at once, checked alongside (may show a little before a block)")])
    performance_latency = models.CharField(
        max_length=16, blank=True, choices=with_settings_choice(bedrock_options.LATENCIES, "BEDROCK_PERFORMANCE_LATENCY"),
        help_text="optimized: the latency-optimized version, where Bedrock offers one for this model.")
    service_tier = models.CharField(
        max_length=16, blank=True, choices=with_settings_choice(bedrock_options.SERVICE_TIERS, "BEDROCK_SERVICE_TIER"))
    prompt_caching = models.CharField(
        max_length=4, blank=True,
        choices=[("", "automatic: as BEDROCK_PROMPT_CACHING says, for models known to cache"),
                 ("on", "on (for a model id we do not know, e.g. an application inference profile)"), ("off", "off")],
        help_text="Cache points after the system prompt and the earlier turns: a long conversation is billed as cache reads.")
    cite_documents = models.CharField(
        max_length=4, blank=True,
        choices=[("", "as BEDROCK_CITE_DOCUMENTS says (off by default)"), ("on", "on"), ("off", "off")],
        help_text="Send documents with citations on (Converse): the answer then cites the passages it used. Only for "
                  "models that take it (Anthropic's Claude with citations); another model refuses such a request.")
    takes_images = models.CharField(
        max_length=4, blank=True, choices=[("", "as its model family says"), ("on", "on"), ("off", "off")],
        help_text="Images (PNG, JPEG, GIF, WebP) in the prompt. Automatic: Claude 3 and later, Nova Lite/Pro/Premier, "
                  "Llama 3.2 11B/90B and Llama 4, Pixtral; InvokeModel only for Claude; never the local model.")
    takes_documents = models.CharField(
        max_length=4, blank=True, choices=[("", "as its model family says"), ("on", "on"), ("off", "off")],
        help_text="Documents in the prompt. Automatic: Converse models of the Anthropic, Nova, Llama 3+, Mistral, "
                  "Command R and Jamba families (every format); Claude through InvokeModel and the local model "
                  "(PDF and text formats only).")
    legacy_on = models.DateField(
        null=True, blank=True, help_text="When AWS marks the model legacy: the picker flags it from then on.")
    end_of_life_on = models.DateField(
        "end of life on", null=True, blank=True,
        help_text="From this day prompts to the model are refused with model_retired, before any call.")
    groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="catalog_entries",
        help_text="Only members of these groups may use the model (staff included); none chosen: everyone.")
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["position", "key"]
        verbose_name = "catalog model"

    def __str__(self):
        return self.label

    def clean(self):
        from django.core.exceptions import ValidationError

        if has_lone_surrogate(self.defaults):  # every prompt would carry it into pages and exports
            raise ValidationError({"defaults": "These parameters hold text that is not valid Unicode (a lone UTF-16 "
                                               "surrogate such as \\ud800)."})
        try:
            validate_params(self.defaults, {})
        except ParamError as error:
            raise ValidationError({"defaults": str(error)}) from None
        if self.provider != providers.LOCAL and not self.model_id:
            raise ValidationError({"model_id": "A Bedrock model needs its model id, profile id or ARN."})
        refused = local_files.refusal(self.model_id) if self.provider == providers.LOCAL and self.model_id else None
        if refused:
            raise ValidationError({"model_id": refused})
        errors = self.request_option_errors()
        if errors:
            raise ValidationError(errors)

    def request_option_errors(self) -> dict[str, str]:
        """What is wrong with the reasoning, guardrail, performance, caching and lifecycle fields, by field."""
        errors = {}
        if self.legacy_on and self.end_of_life_on and self.end_of_life_on < self.legacy_on:
            errors["end_of_life_on"] = "The end of life cannot come before the legacy date."
        if "reasoning_budget" in self.defaults:
            errors["defaults"] = "Set the reasoning budget in its own field, not in the default parameters."
        if self.provider == providers.LOCAL:
            bedrock_fields = {"reasoning_budget": self.reasoning_budget is not None,
                              "guardrail_identifier": self.guardrail_identifier, "guardrail_version": self.guardrail_version,
                              "performance_latency": self.performance_latency, "service_tier": self.service_tier,
                              "prompt_caching": self.prompt_caching == "on", "cite_documents": self.cite_documents == "on"}
            return errors | {name: BEDROCK_ONLY for name, is_set in bedrock_fields.items() if is_set}
        if self.guardrail_identifier and not self.guardrail_version:
            errors["guardrail_version"] = "A guardrail needs its version (a number or DRAFT)."
        if self.guardrail_version and not self.guardrail_identifier:
            errors["guardrail_identifier"] = "A guardrail version needs the guardrail's identifier."
        return errors | self.reasoning_errors()

    def reasoning_errors(self) -> dict[str, str]:
        budget = settings.BEDROCK_REASONING_BUDGET if self.reasoning_budget is None else self.reasoning_budget
        if not budget:
            return {}
        if not bedrock_options.reasons(self.model_id):
            if self.reasoning_budget is None:
                return {}  # the settings' budget applies only to models that reason
            return {"reasoning_budget": f"We know no reasoning setting for {self.model_id}: leave this empty or 0."}
        if budget < bedrock_options.MIN_REASONING_BUDGET:
            return {"reasoning_budget": f"At least {bedrock_options.MIN_REASONING_BUDGET:,} tokens (Bedrock's "
                                        "minimum), or 0 for off."}
        max_tokens = self.defaults.get("max_tokens", settings.DEFAULT_MAX_TOKENS)
        if budget >= max_tokens:
            field = "reasoning_budget" if self.reasoning_budget is not None else "defaults"
            source = "" if self.reasoning_budget is not None else " (from BEDROCK_REASONING_BUDGET)"
            return {field: f"The reasoning budget{source}, {budget:,} tokens, must be below max_tokens ({max_tokens:,}): "
                           "the thinking counts toward the answer's tokens."}
        return {}

    def request_overrides(self) -> dict:
        """This entry's own request options, for chat.catalog.request_options (blank: the settings')."""
        guardrail = None
        if self.guardrail_identifier:
            guardrail = {"identifier": self.guardrail_identifier, "version": self.guardrail_version,
                         "trace": self.guardrail_trace, "stream_mode": self.guardrail_stream_mode or "sync"}
        return {"reasoning_budget": self.reasoning_budget, "guardrail": guardrail,
                "performance_latency": self.performance_latency, "service_tier": self.service_tier,
                "prompt_caching": self.prompt_caching, "cite_documents": self.cite_documents}
