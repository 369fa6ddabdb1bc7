"""Parsing and validating client frames (protocol v1). Pure functions: no database, no sockets."""

import json
import re
from dataclasses import dataclass

from django.conf import settings

MAX_FRAME_BYTES = 64 * 1024
MAX_CLIENT_ID_CHARS = 100
MAX_MODEL_KEY_CHARS = 200
# Bedrock's most per request (the service model's Message.content): 5 documents and 20 images. The kinds are
# counted once the ids are looked up (chat.models.turns); here only the list's length is bounded.
MAX_DOCUMENTS_PER_TURN = 5
MAX_IMAGES_PER_TURN = 20
MAX_ATTACHMENT_IDS = MAX_DOCUMENTS_PER_TURN + MAX_IMAGES_PER_TURN

# A JSON escape of a UTF-16 surrogate (\ud800-\udfff): the only way a lone one gets into a frame whose
# text is valid UTF-8. A paired escape (an emoji) is one character after parsing; a lone one cannot be
# encoded to UTF-8, so it would be refused by the database or break every page and export showing it.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
NOT_UNICODE = "The frame contains text that is not valid Unicode (a lone UTF-16 surrogate such as \\ud800)."


class FrameError(ValueError):
    """A frame that starts nothing: answered with an `error` frame; the socket stays open."""

    def __init__(self, code: str, detail: str, request_id: str | None = None, extra: dict | None = None):
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.extra = extra or {}  # machine-readable fields some codes add (budget_exceeded: "budget")
        super().__init__(detail)

    def as_frame(self) -> dict:
        return {"type": "error", "id": self.request_id, "code": self.code, "detail": self.detail} | self.extra


@dataclass(frozen=True)
class PromptFrame:
    request_id: str
    text: str
    conversation_id: int | None
    model_key: str | None
    params: dict | None
    attachments: tuple[int, ...] = ()  # attachment ids, each once, in the order sent


def decode(text_data: str | None, bytes_data: bytes | None) -> dict:
    if text_data is None:
        raise FrameError("invalid_frame", "Frames must be JSON text; binary frames are not accepted.")
    if len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise FrameError("frame_too_large", f"The frame is larger than {MAX_FRAME_BYTES // 1024} KiB.")
    if SURROGATE.search(text_data):  # not from a real socket (its text is UTF-8), but refused all the same
        raise FrameError("invalid_frame", NOT_UNICODE)
    try:
        content = json.loads(text_data)
    except (ValueError, RecursionError):
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(content, dict):
        raise FrameError("invalid_frame", "A frame must be a JSON object with a 'type'.")
    if SURROGATE_ESCAPE.search(text_data) and has_lone_surrogate(content):
        raise FrameError("invalid_frame", NOT_UNICODE)
    return content


def has_lone_surrogate(content) -> bool:
    """Whether any string in the parsed frame, keys included, holds a lone surrogate. A loop, not
    recursion: a frame nested as deep as json.loads allows must not overflow the stack here."""
    pending = [content]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def request_id_of(frame: dict) -> str | None:
    """The client's id if it is usable, so even an error about another field can name its request."""
    value = frame.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_CLIENT_ID_CHARS:
        return value
    return None


def _positive_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def parse_prompt(frame: dict) -> PromptFrame:
    request_id = request_id_of(frame)
    if request_id is None:
        raise FrameError("invalid_field", f"'id' must be a non-empty string of at most {MAX_CLIENT_ID_CHARS} characters.")
    text = frame.get("text")
    if not isinstance(text, str):
        raise FrameError("invalid_field", "'text' must be a string.", request_id)
    if not text.strip():
        raise FrameError("empty_prompt", "The prompt is empty.", request_id)
    if len(text) > settings.MAX_PROMPT_CHARS:
        raise FrameError(
            "prompt_too_long", f"The prompt is longer than {settings.MAX_PROMPT_CHARS:,} characters.", request_id
        )
    conversation = frame.get("conversation")
    if conversation is not None and not _positive_id(conversation):
        raise FrameError("invalid_field", "'conversation' must be a conversation id or null.", request_id)
    model = frame.get("model")
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_KEY_CHARS):
        raise FrameError("invalid_field", "'model' must be a model key or null.", request_id)
    params = frame.get("params")
    if params is not None and not isinstance(params, dict):
        raise FrameError("invalid_params", "'params' must be an object.", request_id)
    return PromptFrame(request_id, text, conversation, model, params, parse_attachments(frame, request_id))


def parse_attachments(frame: dict, request_id: str) -> tuple[int, ...]:
    """`attachments`: a list of attachment ids (left out, null or [] for none); a repeated id counts once."""
    ids = frame.get("attachments")
    if ids is None:
        return ()
    if not isinstance(ids, list) or not all(_positive_id(value) for value in ids):
        raise FrameError("invalid_field", "'attachments' must be a list of attachment ids.", request_id)
    unique = tuple(dict.fromkeys(ids))
    if len(unique) > MAX_ATTACHMENT_IDS:
        raise FrameError("too_many_attachments", f"At most {MAX_DOCUMENTS_PER_TURN} documents and {MAX_IMAGES_PER_TURN} "
                         "images can go with one prompt.", request_id)
    return unique


def parse_message_id(frame: dict) -> int:
    message = frame.get("message")
    if not _positive_id(message):
        raise FrameError("invalid_field", "'message' must be a message id.", request_id_of(frame))
    return message


def parse_after(frame: dict) -> int | None:
    """`attach`'s optional `after`: the last seq the client already has."""
    after = frame.get("after")
    if after is None:
        return None
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**63:
        raise FrameError("invalid_field", "'after' must be a sequence number (0 or more) or left out.", request_id_of(frame))
    return after
