"""The models staff add to the catalog in admin."""

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from chat import providers
from chat.params import ParamError, validate_params


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
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["position", "key"]
        verbose_name = "catalog model"

    def __str__(self):
        return self.label

    def clean(self):
        from django.core.exceptions import ValidationError

        try:
            validate_params(self.defaults, {})
        except ParamError as error:
            raise ValidationError({"defaults": str(error)}) from None
        if self.provider != providers.LOCAL and not self.model_id:
            raise ValidationError({"model_id": "A Bedrock model needs its model id, profile id or ARN."})
