"""Conversations for staff review, each with its messages oldest first."""

from django.contrib import admin
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from chat.admin.filters import DeletedByUserFilter
from chat.admin.history import ReadOnlyHistoryAdmin, preview, printable, status_badge
from chat.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("turn", "created", "status_badge", "model_key", "prompt_preview", "answer_preview", "input_tokens", "output_tokens")
    readonly_fields = fields
    ordering = ("created", "pk")
    extra = 0
    show_change_link = True
    verbose_name_plural = "messages, oldest first"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="#")
    def turn(self, message):
        return format_html('<a href="{}">#{}</a>', reverse("admin:chat_message_change", args=[message.pk]), message.pk)

    @admin.display(description="status")
    def status_badge(self, message):
        return status_badge(message.status)

    @admin.display(description="prompt")
    def prompt_preview(self, message):
        return preview(message.prompt, 80)

    @admin.display(description="answer")
    def answer_preview(self, message):
        return preview(message.response, 80) if message.response else "—"


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyHistoryAdmin):
    list_display = ("title_or_id", "user", "message_count", "deleted_by_user", "created", "updated")
    list_filter = (DeletedByUserFilter, ("user", admin.RelatedOnlyFieldListFilter), "updated")
    search_fields = ("title", "user__username")
    date_hierarchy = "updated"
    list_select_related = ("user",)
    fields = ("title", "user", "created", "updated", "deletion")
    readonly_fields = fields
    inlines = [MessageInline]
    actions = ["delete_selected"]

    def get_queryset(self, request):
        # A subquery, not a join: counting and paging the list stay on the conversation table alone.
        counted = Message.objects.filter(conversation=OuterRef("pk")).order_by().values("conversation").annotate(n=Count("pk"))
        return super().get_queryset(request).annotate(message_count=Coalesce(Subquery(counted.values("n")), 0))

    def is_streaming(self, conversation):
        return conversation.messages.filter(status=Message.Status.STREAMING).exists()

    def streaming_filter(self):
        return Exists(Message.objects.filter(conversation=OuterRef("pk"), status=Message.Status.STREAMING))

    @admin.display(description="title", ordering="title")
    def title_or_id(self, conversation):
        return printable(str(conversation))

    @admin.display(description="messages", ordering="message_count")
    def message_count(self, conversation):
        return conversation.message_count

    @admin.display(description="deleted by user", boolean=True, ordering="deleted_at")
    def deleted_by_user(self, conversation):
        return conversation.deleted_at is not None

    @admin.display(description="deleted by the user")
    def deletion(self, conversation):
        if conversation.deleted_at is None:
            return "No: the user still sees this conversation."
        when = timezone.localtime(conversation.deleted_at).strftime("%Y-%m-%d %H:%M")
        return format_html(
            '<strong class="deleted-note">Yes, on {}.</strong> Hidden from the user; kept here until purge_history removes it.', when
        )
