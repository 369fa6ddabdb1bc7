"""Read-only review of every prompt and answer: an audit record is never edited by hand."""

from django.contrib import admin

from chat.models import CatalogEntry, Conversation, Message


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created", "status", "model_key", "prompt", "response", "output_tokens")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("title", "user", "message_count", "created", "updated")
    list_filter = ("created",)
    search_fields = ("title", "user__username")
    date_hierarchy = "created"
    list_select_related = ("user",)
    inlines = [MessageInline]

    @admin.display(description="messages")
    def message_count(self, conversation):
        return conversation.messages.count()


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "short_prompt", "model_key", "status", "input_tokens", "output_tokens", "ttft_ms", "duration_ms", "created")
    list_filter = ("status", "model_key", "provider", "created")
    search_fields = ("prompt", "response", "user__username", "client_request_id", "upstream_request_id")
    date_hierarchy = "created"
    list_select_related = ("user", "conversation")
    readonly_fields = [field.name for field in Message._meta.fields]

    @admin.display(description="prompt")
    def short_prompt(self, message):
        return message.prompt if len(message.prompt) <= 80 else message.prompt[:79] + "…"


@admin.register(CatalogEntry)
class CatalogEntryAdmin(admin.ModelAdmin):
    """Staff extend the model catalog here; the page offers a saved entry at once."""

    list_display = ("key", "label", "provider", "model_id", "enabled", "position")
    list_editable = ("enabled", "position")
    list_filter = ("provider", "enabled")
    search_fields = ("key", "label", "model_id")
