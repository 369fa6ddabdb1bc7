"""The model catalog staff extend in admin."""

from django.contrib import admin

from chat.models import CatalogEntry


@admin.register(CatalogEntry)
class CatalogEntryAdmin(admin.ModelAdmin):
    """Staff extend the model catalog here; the page offers a saved entry at once."""

    list_display = ("key", "label", "provider", "model_id", "enabled", "position", "end_of_life_on")
    list_editable = ("enabled", "position")
    list_filter = ("provider", "enabled")
    search_fields = ("key", "label", "model_id")
