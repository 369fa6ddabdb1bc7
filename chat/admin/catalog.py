"""The model catalog staff extend in admin."""

import json

from django.conf import settings
from django.contrib import admin
from django.db import models

from chat.admin.history import printable
from chat.models import CatalogEntry


class PrintableJSONEncoder(json.JSONEncoder):
    """JSON for the form's text box that the page can always send: a lone surrogate saved before they were
    refused is written as its escape (\\ud800), which reads back as the same value."""

    def encode(self, o):
        return printable(super().encode(o))


@admin.register(CatalogEntry)
class CatalogEntryAdmin(admin.ModelAdmin):
    """Staff extend the model catalog here; the page offers a saved entry at once."""

    list_display = ("key", "label", "provider", "model_id", "enabled", "position", "end_of_life_on", "allowed_groups")
    list_editable = ("enabled", "position")
    list_filter = ("provider", "enabled", "groups")
    filter_horizontal = ("groups",)
    search_fields = ("key", "label", "model_id")
    formfield_overrides = {models.JSONField: {"encoder": PrintableJSONEncoder}}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="groups")
    def allowed_groups(self, entry) -> str:
        return ", ".join(sorted(group.name for group in entry.groups.all())) or "everyone"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "model_id":  # where a local model's file may be: the operator's folders
            folders = ", ".join(settings.LOCAL_MODEL_DIRS) or "none: only LOCAL_MODEL_PATH"
            field.help_text = (f"Bedrock model id, inference profile id or ARN. For local: blank (the built-in model) "
                               f"or the full path of a .gguf file in one of {folders}.")
        return field
