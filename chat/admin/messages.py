"""Every message (a prompt and its answer) for staff review, its exports, and the usage dashboard."""

import json

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from chat.admin.attachments import HasAttachmentsFilter, MessageAttachmentsAdmin
from chat.admin.filters import CreatedRangeFilter, ErrorCodeFilter, ModelKeyFilter, StopReasonFilter
from chat.admin.history import ReadOnlyHistoryAdmin, preview, printable, status_badge
from chat.admin.stream_details import StreamDetailsAdmin
from chat.dashboard import aggregates, spend
from chat.dashboard.charts import charts
from chat.dashboard.forms import DashboardForm
from chat.dashboard.queries import usage
from chat.dashboard.tables import day_rows
from chat.exports import FORMATS, _async_chunks, export_messages
from chat.models import Message


@admin.register(Message)
class MessageAdmin(MessageAttachmentsAdmin, StreamDetailsAdmin, ReadOnlyHistoryAdmin):
    list_display = (
        "id", "user", "conversation_link", "model_column", "status_badge", "prompt_preview", "answer_preview",
        "input_tokens", "output_tokens", "ttft", "speed", "duration", "cost_column", "created",
    )
    list_display_links = ("id", "prompt_preview")
    list_filter = (
        "status", StopReasonFilter, ModelKeyFilter, ("user", admin.RelatedOnlyFieldListFilter), CreatedRangeFilter, ErrorCodeFilter,
        HasAttachmentsFilter,
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
        ("Attachments", {"fields": ("attachments_view",)}),
        ("Answer", {"fields": ("answer",)}),
        ("Model and parameters", {"fields": ("model_key", "model_id", "invoked_model_view", "provider", "parameters")}),
        ("Outcome", {"fields": ("stop_reason_view", "error_code", "error_text", "seq", "heartbeat_at")}),
        ("Usage and cost", {"fields": ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_write_input_tokens",
                                       "cost_view")}),
        ("Timing", {"fields": ("ttft", "answer_time", "speed", "duration", "server_latency")}),
        ("Request", {"fields": ("client_request_id", "upstream_request_id", "client_ip", "user_agent")}),
    )
    readonly_fields = [f.name for f in Message._meta.fields] + [
        "conversation_link", "status_badge", "full_prompt", "system_prompt", "answer", "parameters", "ttft", "speed", "duration",
        "error_text",
        "stop_reason_view", "invoked_model_view", "cost_view", "answer_time", "server_latency",
        "reasoning_view", "reasoning_kept", "citations_view", "guardrail_view", "attachments_view",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).with_tokens_per_second()

    def get_fieldsets(self, request, obj=None):
        # The stream's reasoning, citations and guardrail trace, after the answer, when the message has them.
        fieldsets = super().get_fieldsets(request, obj)
        after_answer = [name for name, _ in fieldsets].index("Answer") + 1
        return (*fieldsets[:after_answer], *self.stream_fieldsets(obj), *fieldsets[after_answer:])

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
        return format_html('<pre class="history-text">{}</pre>', printable(message.prompt))

    @admin.display(description="system prompt")
    def system_prompt(self, message):
        system = (message.params or {}).get("system") if isinstance(message.params, dict) else None
        if not system:
            return "— (none sent)"
        if not isinstance(system, str):
            system = json.dumps(system, indent=2, ensure_ascii=False)
        return format_html('<pre class="history-text">{}</pre>', printable(system))

    @admin.display(description="parameters")
    def parameters(self, message):
        shown = {key: value for key, value in (message.params or {}).items() if key != "system"} if isinstance(message.params, dict) else message.params
        return format_html('<pre class="history-text">{}</pre>', printable(json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=True)))

    @admin.display(description="answer")
    def answer(self, message):
        if not message.response:
            return "— (no answer yet)" if message.status == Message.Status.STREAMING else "— (empty)"
        return format_html(
            '<div class="answer-views">'
            '<section class="answer-rendered" hidden><h3>Rendered (sanitised markdown)</h3><div class="markdown-body" id="answer-rendered"></div></section>'
            '<section class="answer-raw"><h3>Raw text</h3><pre class="history-text" id="answer-raw">{}</pre></section>'
            "</div>",
            printable(message.response),
        )

    @admin.display(description="error detail")
    def error_text(self, message):
        return printable(message.error_detail) or "—"

    # Views.

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
            path("dashboard/spend.csv", wrap(self.spend_csv_view), name="chat_message_spend_csv"),
            *[path(f"export.{fmt}", wrap(self.export_view), {"fmt": fmt}, name=f"chat_message_export_{fmt}") for fmt in FORMATS],
            *self.attachment_urls(),
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
        form = DashboardForm(request.GET or None)
        scope = form.scope()
        if not form.is_bound:
            form.initial = {"start": scope.start, "end": scope.end}  # show the default range in the inputs
        report = usage(scope)
        form.offer_models(report.model_keys)
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage dashboard",
            "opts": self.opts,
            "form": form,
            "report": report,
            "charts": charts(report),
            "day_rows": day_rows(report.days, report.priced),
            "sample_above": f"{aggregates.SAMPLE_ABOVE:,}",
            "history_url": reverse("admin:chat_message_changelist"),
            "spend_csv_url": reverse("admin:chat_message_spend_csv"),
            "time_zone": timezone.get_current_timezone_name(),
        }
        return TemplateResponse(request, "admin/chat/dashboard.html", context)

    def spend_csv_view(self, request):
        """Spend per user, group and model per day, week or month (?start=&end=&period=), from the rollup."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = spend.SpendForm(request.GET)
        if not form.is_valid():
            errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())
            return HttpResponseBadRequest(f"Give start and end (YYYY-MM-DD) and period (day, week or month). {errors}",
                                          content_type="text/plain; charset=utf-8")
        start, end, period = (form.cleaned_data[name] for name in ("start", "end", "period"))
        chunks = (chunk.encode("utf-8") for chunk in spend.csv_chunks(spend.spend_rows(start, end, period)))
        response = StreamingHttpResponse(_async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks,
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="spend-{period}-{start}-{end}.csv"'
        response["Cache-Control"] = "no-store"
        return response
