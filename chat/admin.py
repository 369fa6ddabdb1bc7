"""Staff review of every prompt and answer, exports, and the usage dashboard.

History is an audit record: nobody adds or edits it here. Superusers may delete it (a conversation with
its messages), except while a message is still streaming; `manage.py purge_history` deletes by age.
"""

import json
from datetime import datetime, time, timedelta
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from chat import dashboard
from chat.exports import FORMATS, export_messages
from chat.models import CatalogEntry, Conversation, Message

PREVIEW_CHARS = 60
# The chat page's vendored markdown libraries (being added with it); looked for each time a page renders.
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "chat" / "vendor"


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_badge(status: str):
    return format_html('<span class="status-badge status-{}">{}</span>', status, status)


def markdown_assets() -> dict | None:
    """The vendored marked and DOMPurify the chat page uses, looked for at each render; None while absent."""
    if not VENDOR_DIR.is_dir():
        return None
    scripts = sorted(path.relative_to(VENDOR_DIR).as_posix() for pattern in ("*.js", "*.mjs") for path in VENDOR_DIR.rglob(pattern))

    def pick(match):
        found = [name for name in scripts if match(name.rsplit("/", 1)[-1].lower())]
        # A browser build first (UMD or minified); an ES module build works too (see the template).
        found.sort(key=lambda name: (not any(tag in name for tag in (".umd.", ".min.")), name))
        return static(f"chat/vendor/{found[0]}") if found else None

    marked = pick(lambda name: name.startswith("marked"))
    purify = pick(lambda name: "purify" in name)
    return {"marked": marked, "purify": purify} if marked and purify else None


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """Nobody adds or changes history; superusers may delete what is not streaming."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        if not request.user.is_superuser:
            return False
        return obj is None or not self.is_streaming(obj)

    def is_streaming(self, obj) -> bool:
        raise NotImplementedError

    def streaming_filter(self):
        raise NotImplementedError

    @admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s")
    def delete_selected(self, request, queryset):
        """Django's delete action, leaving out whatever is still streaming (its run would write it back)."""
        busy = queryset.filter(self.streaming_filter())
        if busy.exists():
            self.message_user(request, f"Skipped {busy.count()} still streaming: wait until they finish.", messages.WARNING)
            queryset = queryset.exclude(pk__in=busy.values("pk"))
            if not queryset.exists():
                return None
        return django_delete_selected(self, request, queryset)


class CreatedRangeFilter(admin.ListFilter):
    """Messages created from one day to another (both included), typed as dates."""

    title = "date range"
    template = "admin/chat/filters/date_range.html"
    parameters = ("created_from", "created_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def day(self, name):
        value = self.used_parameters.get(name)
        if not value:
            return None
        try:
            return forms.DateField().clean(value)
        except forms.ValidationError:
            raise IncorrectLookupParameters(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None

    def queryset(self, request, queryset):
        zone = timezone.get_current_timezone()
        start, end = self.day("created_from"), self.day("created_to")
        if start:
            queryset = queryset.filter(created__gte=datetime.combine(start, time.min, tzinfo=zone))
        if end:
            queryset = queryset.filter(created__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone))
        return queryset

    def choices(self, changelist):
        # One "choice": what the template needs to draw a small GET form that keeps the other filters.
        kept = [(name, value) for name, value in changelist.params.items() if name not in self.parameters]
        yield {
            "values": {name: self.used_parameters.get(name, "") for name in self.parameters},
            "kept": kept,
            "clear": changelist.get_query_string(remove=list(self.parameters)),
            "selected": bool(self.used_parameters),
        }


class ModelKeyFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model_key"

    def lookups(self, request, model_admin):
        keys = Message.objects.order_by("model_key").values_list("model_key", flat=True).distinct()
        labels = dict(CatalogEntry.objects.values_list("key", "label"))
        return [(key, f"{labels[key]} ({key})" if key in labels else key) for key in keys]

    def queryset(self, request, queryset):
        return queryset.filter(model_key=self.value()) if self.value() else queryset


class ErrorCodeFilter(admin.SimpleListFilter):
    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        # Codes are set on failed messages only: the status index keeps this off the rest of the table.
        failed = Message.objects.filter(status=Message.Status.ERROR).exclude(error_code="")
        codes = failed.order_by("error_code").values_list("error_code", flat=True).distinct()
        return [(code, code) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(error_code=self.value()) if self.value() else queryset


@admin.register(Message)
class MessageAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "id", "user", "conversation_link", "model_column", "status_badge", "prompt_preview", "answer_preview",
        "input_tokens", "output_tokens", "ttft", "speed", "duration", "created",
    )
    list_display_links = ("id", "prompt_preview")
    list_filter = (
        "status", ModelKeyFilter, ("user", admin.RelatedOnlyFieldListFilter), CreatedRangeFilter, ErrorCodeFilter,
    )
    search_fields = ("prompt", "response", "user__username")
    search_help_text = "Searches prompts, answers and usernames."
    date_hierarchy = "created"
    list_select_related = ("user", "conversation")
    list_per_page = 50
    actions = ["delete_selected", "export_csv", "export_jsonl"]
    fieldsets = (
        (None, {"fields": ("user", "conversation_link", "status_badge", "created", "finished")}),
        ("Prompt", {"fields": ("full_prompt", "system_prompt")}),
        ("Answer", {"fields": ("answer",)}),
        ("Model and parameters", {"fields": ("model_key", "model_id", "provider", "parameters")}),
        ("Outcome", {"fields": ("stop_reason", "error_code", "error_detail", "input_tokens", "output_tokens",
                                "ttft", "speed", "duration", "seq", "heartbeat_at")}),
        ("Request", {"fields": ("client_request_id", "upstream_request_id", "client_ip", "user_agent")}),
    )
    readonly_fields = [f.name for f in Message._meta.fields] + [
        "conversation_link", "status_badge", "full_prompt", "system_prompt", "answer", "parameters", "ttft", "speed", "duration",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(tokens_per_second=dashboard.tokens_per_second())

    def is_streaming(self, message):
        return message.status == Message.Status.STREAMING

    def streaming_filter(self):
        return Q(status=Message.Status.STREAMING)

    # Columns and read-only fields.

    @admin.display(description="conversation", ordering="conversation__title")
    def conversation_link(self, message):
        url = reverse("admin:chat_conversation_change", args=[message.conversation_id])
        return format_html('<a href="{}">{}</a>', url, preview(str(message.conversation), 40))

    @admin.display(description="model", ordering="model_key")
    def model_column(self, message):
        return message.model_key

    @admin.display(description="status", ordering="status")
    def status_badge(self, message):
        return status_badge(message.status)

    @admin.display(description="prompt")
    def prompt_preview(self, message):
        return preview(message.prompt)

    @admin.display(description="answer")
    def answer_preview(self, message):
        return preview(message.response) if message.response else "—"

    @admin.display(description="TTFT", ordering="ttft_ms")
    def ttft(self, message):
        return "—" if message.ttft_ms is None else f"{message.ttft_ms:,} ms"

    @admin.display(description="tokens/s", ordering="tokens_per_second")
    def speed(self, message):
        value = getattr(message, "tokens_per_second", None)
        return "—" if value is None else f"{value:,.1f}"

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, message):
        return "—" if message.duration_ms is None else f"{message.duration_ms / 1000:,.2f} s"

    @admin.display(description="prompt")
    def full_prompt(self, message):
        return format_html('<pre class="history-text">{}</pre>', message.prompt)

    @admin.display(description="system prompt")
    def system_prompt(self, message):
        system = (message.params or {}).get("system") if isinstance(message.params, dict) else None
        if not system:
            return "— (none sent)"
        if not isinstance(system, str):
            system = json.dumps(system, indent=2, ensure_ascii=False)
        return format_html('<pre class="history-text">{}</pre>', system)

    @admin.display(description="parameters")
    def parameters(self, message):
        shown = {key: value for key, value in (message.params or {}).items() if key != "system"} if isinstance(message.params, dict) else message.params
        return format_html('<pre class="history-text">{}</pre>', json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=True))

    @admin.display(description="answer")
    def answer(self, message):
        if not message.response:
            return "— (no answer yet)" if message.status == Message.Status.STREAMING else "— (empty)"
        note = "" if markdown_assets() else mark_safe(
            '<p class="quiet-note">No rendered view: the markdown libraries (marked, DOMPurify) are not in chat/static/chat/vendor/.</p>'
        )
        return format_html(
            '<div class="answer-views">{}'
            '<section class="answer-rendered" hidden><h3>Rendered (sanitised markdown)</h3><div class="markdown-body" id="answer-rendered"></div></section>'
            '<section class="answer-raw"><h3>Raw text</h3><pre class="history-text" id="answer-raw">{}</pre></section>'
            "</div>",
            note, message.response,
        )

    # Views.

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "markdown_assets": markdown_assets()}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        query = request.GET.urlencode()
        extra_context = {
            **(extra_context or {}),
            "export_links": [
                (label, reverse(f"admin:chat_message_export_{fmt}") + (f"?{query}" if query else ""))
                for fmt, label in (("csv", "Export CSV"), ("jsonl", "Export JSON Lines"))
            ],
            "dashboard_url": reverse("admin:chat_message_dashboard"),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="chat_message_dashboard"),
            *[path(f"export.{fmt}", wrap(self.export_view), {"fmt": fmt}, name=f"chat_message_export_{fmt}") for fmt in FORMATS],
            *super().get_urls(),
        ]

    # Exports: the selected rows (actions) or the whole filtered, searched changelist (links).

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        return export_messages(request, queryset, "csv")

    @admin.action(description="Export selected as JSON Lines")
    def export_jsonl(self, request, queryset):
        return export_messages(request, queryset, "jsonl")

    def export_view(self, request, fmt):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)  # the filters, search, date hierarchy and order
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters are not valid; open the list again and export from there.")
        return export_messages(request, changelist.queryset, fmt)

    # The usage dashboard.

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = dashboard.DashboardForm(request.GET or None)
        scope = form.scope()
        if not form.is_bound:
            form.initial = {"start": scope.start, "end": scope.end}  # show the default range in the inputs
        report = dashboard.usage(scope)
        form.offer_models(report.model_keys)
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage dashboard",
            "opts": self.opts,
            "form": form,
            "report": report,
            "charts": dashboard.charts(report),
            "history_url": reverse("admin:chat_message_changelist"),
            "time_zone": timezone.get_current_timezone_name(),
        }
        return TemplateResponse(request, "admin/chat/dashboard.html", context)


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


class DeletedByUserFilter(admin.SimpleListFilter):
    title = "deleted by the user"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


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
        return str(conversation)

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


@admin.register(CatalogEntry)
class CatalogEntryAdmin(admin.ModelAdmin):
    """Staff extend the model catalog here; the page offers a saved entry at once."""

    list_display = ("key", "label", "provider", "model_id", "enabled", "position")
    list_editable = ("enabled", "position")
    list_filter = ("provider", "enabled")
    search_fields = ("key", "label", "model_id")

