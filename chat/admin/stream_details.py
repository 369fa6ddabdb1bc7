"""The message page's view of what else a stream carried (protocol v1.1): reasoning, citations, the
guardrail's assessment, cost, cache and timing figures.

Everything the model or a provider sent is shown as escaped text; the only live links are a citation's
http(s) source or location. The reasoning signature and redacted reasoning are opaque (kept to be sent back
unchanged), so the page says they are there without printing them.
"""

from decimal import Decimal

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.html import format_html, format_html_join

from chat.admin.history import printable
from chat.models import Message

# The stop reasons a reviewer should notice, in the page's own words (docs/protocol.md).
STOP_REASON_NOTES = {
    "end_turn": "finished",
    "max_tokens": "cut short (max tokens)",
    "model_context_window_exceeded": "context window full",
    "stop_sequence": "stopped by a stop sequence",
    "guardrail_intervened": "blocked by a guardrail",
    "content_filtered": "blocked by the content filter",
    "stopped_by_user": "stopped by the user",
}

is_web_url = URLValidator(schemes=["http", "https"])


def stop_reason_label(reason: str) -> str:
    note = STOP_REASON_NOTES.get(reason)
    return f"{reason} ({note})" if note else reason


def exact_amount(amount: Decimal) -> str:
    """0.00123000 -> "0.00123"; whole amounts without an exponent (100, not 1E+2)."""
    return format(amount.normalize(), "f")


def cost_label(message) -> str:
    if message.cost is None:
        return "—"
    return f"{exact_amount(message.cost)} {message.currency}".strip()


def milliseconds(value) -> str:
    return "—" if value is None else f"{value:,} ms"


def web_link(value: str):
    """An http(s) URL as a link that opens apart from the admin; anything else as text."""
    try:
        is_web_url(value)
    except ValidationError:
        return value
    return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', value, value)


def text_of(item: dict, key: str) -> str:
    """A value of a JSON column as text. JSON can hold a lone surrogate (SQLite keeps a "\\ud800" escape as it
    is): it is shown as that escape, so the page can still be encoded."""
    value = item.get(key)
    return "" if value is None else printable(str(value))


def citation_cells(item: dict) -> tuple:
    source, location = text_of(item, "source"), text_of(item, "location")
    return (text_of(item, "title") or "(untitled)", web_link(source) if source else "—",
            web_link(location) if location else "—", text_of(item, "text") or "(no cited text)")


class StreamDetailsAdmin:
    """Read-only fields for MessageAdmin; the fieldsets they appear in are in `stream_fieldsets`."""

    def stream_fieldsets(self, message) -> tuple:
        """Reasoning, citations and the guardrail get a section only when the message has them."""
        sections = []
        if message is not None and (message.reasoning or message.reasoning_signature or message.reasoning_redacted):
            sections.append(("Reasoning", {"fields": ("reasoning_view", "reasoning_kept")}))
        if message is not None and message.citations:
            sections.append(("Citations", {"fields": ("citations_view",)}))
        if message is not None and (message.guardrail or message.status == Message.Status.BLOCKED):
            sections.append(("Guardrail", {"fields": ("guardrail_view",)}))
        return tuple(sections)

    @admin.display(description="cost", ordering="cost")
    def cost_column(self, message):
        return cost_label(message)

    @admin.display(description="cost")
    def cost_view(self, message):
        if message.cost is None:
            return "— (not recorded: the model had no prices, or the answer predates stored costs)"
        return cost_label(message)

    @admin.display(description="stop reason")
    def stop_reason_view(self, message):
        return stop_reason_label(message.stop_reason) if message.stop_reason else "—"

    @admin.display(description="time to first answer token")
    def answer_time(self, message):
        return milliseconds(message.answer_ms)

    @admin.display(description="server latency (Bedrock's own)")
    def server_latency(self, message):
        return milliseconds(message.server_latency_ms)

    @admin.display(description="invoked model")
    def invoked_model_view(self, message):
        return message.invoked_model or "— (the model asked for)"

    @admin.display(description="reasoning")
    def reasoning_view(self, message):
        if not message.reasoning:
            return "— (no reasoning text)"
        # Collapsed: the answer is what a reviewer reads first. admin-message.js renders #reasoning-raw into
        # #reasoning-rendered with the chat page's markdown renderer, as it does the answer.
        return format_html(
            '<details class="reasoning-views"><summary>Show the reasoning ({} characters)</summary>'
            '<div class="answer-views">'
            '<section class="reasoning-rendered" hidden><h3>Rendered (sanitised markdown)</h3><div class="markdown-body" id="reasoning-rendered"></div></section>'
            '<section class="reasoning-raw"><h3>Raw text</h3><pre class="history-text" id="reasoning-raw">{}</pre></section>'
            "</div></details>",
            f"{len(message.reasoning):,}", message.reasoning,
        )

    @admin.display(description="signature and redacted reasoning")
    def reasoning_kept(self, message):
        notes = []
        if message.reasoning_signature:
            notes.append(f"Signature present ({len(message.reasoning_signature):,} characters).")
        if message.reasoning_redacted:
            notes.append(f"Redacted reasoning present ({len(bytes(message.reasoning_redacted)):,} bytes, encrypted by the provider).")
        if not notes:
            return "— (none)"
        return " ".join(notes) + " Kept to send back to the model unchanged; not shown."

    @admin.display(description="citations")
    def citations_view(self, message):
        items = [item for item in message.citations if isinstance(item, dict)] if isinstance(message.citations, list) else []
        if not items:
            return "— (none)"
        return format_html(
            '<ol class="citations">{}</ol>',
            format_html_join("", (
                '<li><strong class="citation-title">{}</strong>'
                '<div class="citation-source">Source: {}</div>'
                '<div class="citation-location">Location: {}</div>'
                '<pre class="history-text citation-text">{}</pre></li>'
            ), (citation_cells(item) for item in items)),
        )

    @admin.display(description="assessment")
    def guardrail_view(self, message):
        trace = message.guardrail if isinstance(message.guardrail, dict) else {}
        if not trace:
            return "— (no guardrail trace: blocked by the provider's content filter, or tracing was off)"
        assessments = [row for row in trace.get("assessments") or [] if isinstance(row, dict)]
        table = format_html(
            '<table class="guardrail-assessments"><thead><tr><th>Policy</th><th>Type</th><th>Action</th><th>Confidence</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
                tuple(text_of(row, key) or "—" for key in ("policy", "type", "action", "confidence")) for row in assessments
            )),
        ) if assessments else "No assessments in the trace."
        return format_html(
            '<div class="guardrail-action">Action: <strong>{}</strong></div><div class="guardrail-reason">Reason: {}</div>{}',
            text_of(trace, "action") or "—", text_of(trace, "reason") or "—", table,
        )
