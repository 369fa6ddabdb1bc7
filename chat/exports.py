"""Message history as CSV or JSON Lines, streamed a chunk of rows at a time so any size fits in memory.

The rows come from `.values(...).iterator(chunk_size=...)`: no model instances, and the database
cursor is read as the response is sent. Under ASGI (daphne) the response gets an asynchronous iterator;
Django would otherwise read a synchronous one into a list before sending the first byte.
"""

import csv
import io
import json
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from django.utils import timezone

CHUNK_SIZE = 2000

# (heading, value path): the export's columns, in order.
MESSAGE_COLUMNS = [
    ("id", "id"),
    ("created", "created"),
    ("finished", "finished"),
    ("user", "user__username"),
    ("conversation_id", "conversation_id"),
    ("conversation_title", "conversation__title"),
    ("status", "status"),
    ("model_key", "model_key"),
    ("model_id", "model_id"),
    ("provider", "provider"),
    ("prompt", "prompt"),
    ("response", "response"),
    ("params", "params"),
    ("reasoning", "reasoning"),
    ("citations", "citations"),
    ("guardrail", "guardrail"),
    ("invoked_model", "invoked_model"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_input_tokens", "cache_read_input_tokens"),
    ("cache_write_input_tokens", "cache_write_input_tokens"),
    ("cost", "cost"),
    ("currency", "currency"),
    ("ttft_ms", "ttft_ms"),
    ("answer_ms", "answer_ms"),
    ("duration_ms", "duration_ms"),
    ("server_latency_ms", "server_latency_ms"),
    ("tokens_per_second", "tokens_per_second"),
    ("stop_reason", "stop_reason"),
    ("error_code", "error_code"),
    ("error_detail", "error_detail"),
    ("client_request_id", "client_request_id"),
    ("upstream_request_id", "upstream_request_id"),
    ("client_ip", "client_ip"),
    ("user_agent", "user_agent"),
]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/jsonl; charset=utf-8", "jsonl"),
}


def neutralise(value: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe and is shown as text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    elif not isinstance(value, str):
        value = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return neutralise(value)


def message_rows(queryset):
    """Plain dicts for the export columns, read from the database a chunk at a time."""
    if "tokens_per_second" not in queryset.query.annotations:
        queryset = queryset.with_tokens_per_second()
    paths = [path for _, path in MESSAGE_COLUMNS]
    for row in queryset.values(*paths).iterator(chunk_size=CHUNK_SIZE):
        yield {heading: exact(row[path]) for heading, path in MESSAGE_COLUMNS}


def exact(value):
    """A cost as its fixed-point string ("0.00123000", as stored; never "1E-8"); anything else as it is."""
    return format(value, "f") if isinstance(value, Decimal) else value


def csv_chunks(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # quotes commas, quotes and newlines; rows end with \r\n (RFC 4180)
    writer.writerow([heading for heading, _ in MESSAGE_COLUMNS])
    for count, row in enumerate(rows, 1):
        writer.writerow([csv_cell(value) for value in row.values()])
        if count % CHUNK_SIZE == 0:
            yield _take(buffer)
    yield _take(buffer)


def jsonl_chunks(rows):
    lines = []
    for row in rows:
        lines.append(json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n")
        if len(lines) == CHUNK_SIZE:
            yield "".join(lines)
            lines = []
    yield "".join(lines)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def export_messages(request, queryset, fmt: str) -> StreamingHttpResponse:
    content_type, extension = FORMATS[fmt]
    chunks = (csv_chunks if fmt == "csv" else jsonl_chunks)(message_rows(queryset))
    # A lone surrogate stored before frames were checked for them (SQLite keeps one inside JSON) cannot be
    # encoded to UTF-8: written as \udXXX instead, a valid JSON escape, so no row makes the export fail
    # half-way (a response that never ends, under daphne).
    encoded = (chunk.encode("utf-8", "backslashreplace") for chunk in chunks)
    content = _async_chunks(encoded) if isinstance(request, ASGIRequest) else encoded
    response = StreamingHttpResponse(content, content_type=content_type)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="messages-{stamp}.{extension}"'
    response["Cache-Control"] = "no-store"
    return response


async def _async_chunks(chunks):
    """Read the synchronous generator (and its database cursor) in Django's sync thread, chunk by chunk."""
    done = object()
    step = sync_to_async(lambda: next(chunks, done), thread_sensitive=True)
    try:
        while (chunk := await step()) is not done:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()
