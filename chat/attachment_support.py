"""Which models take which attachments: the catalog's capability flags, decided per provider and model family.

A provider sets the ceiling (what we can send it at all); the model family decides within it, from AWS's
"Supported models and features" table for Converse (vision, document chat); a catalog entry may turn either
kind on or off. A Bedrock model the table does not know takes none: fail closed rather than have Bedrock
refuse the request after the prompt is saved.

- bedrock-converse: every DocumentFormat and ImageFormat, where the family takes them.
- bedrock-invoke: only the Anthropic messages body has image and document blocks (documents: PDF, and the
  plain text formats as text documents); Cohere, Titan, Llama and Mistral bodies take neither.
- local: documents whose text we can extract (pypdf for PDF; text formats read directly); no images.
"""

from dataclasses import dataclass

from chat.bedrock_options import base_model_name
from chat.file_types import DOCUMENT_FORMATS, IMAGE_FORMATS, TEXT_FORMATS
from chat.providers import BEDROCK_INVOKE, LOCAL

EXTRACTABLE = ("pdf", *TEXT_FORMATS)  # documents we can turn into text ourselves

# Converse: base-model prefix -> (takes images, takes documents); the first prefix that matches wins.
CONVERSE_FAMILIES = (
    ("anthropic.claude-v2", False, True),
    ("anthropic.claude-instant", False, True),
    ("anthropic.claude", True, True),  # Claude 3 and later: vision and documents
    ("amazon.nova-micro", False, True),  # text only: documents as text
    ("amazon.nova-", True, True),  # Lite, Pro, Premier, Nova 2
    ("meta.llama3-2-11b", True, True),
    ("meta.llama3-2-90b", True, True),
    ("meta.llama4", True, True),
    ("meta.llama3", False, True),
    ("meta.llama2", False, True),
    ("mistral.pixtral", True, True),
    ("mistral.", False, True),
    ("cohere.command-r", False, True),
    ("ai21.jamba-instruct", False, False),
    ("ai21.jamba", False, True),  # Jamba 1.5
)
# InvokeModel: only the Anthropic messages body (Claude 3 and later) has image and document blocks.
INVOKE_FAMILIES = (
    ("anthropic.claude-v2", False, False),
    ("anthropic.claude-instant", False, False),
    ("anthropic.claude", True, True),
)


@dataclass(frozen=True)
class Formats:
    images: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"images": list(self.images), "documents": list(self.documents)}


def ceiling(provider: str, model_id: str) -> Formats:
    """What this provider could send for this model at most, whatever the family says."""
    if provider == LOCAL:
        return Formats((), EXTRACTABLE)
    if provider == BEDROCK_INVOKE:
        anthropic = base_model_name(model_id).startswith("anthropic.claude")
        return Formats(IMAGE_FORMATS, EXTRACTABLE) if anthropic else Formats()
    return Formats(IMAGE_FORMATS, DOCUMENT_FORMATS)


def family_default(provider: str, model_id: str) -> tuple[bool, bool]:
    if provider == LOCAL:
        return False, True
    table = INVOKE_FAMILIES if provider == BEDROCK_INVOKE else CONVERSE_FAMILIES
    base = base_model_name(model_id)
    return next(((images, documents) for prefix, images, documents in table if base.startswith(prefix)), (False, False))


def formats_for(provider: str, model_id: str, images: str = "", documents: str = "") -> Formats:
    """The formats a model takes: `images` / `documents` are a catalog entry's choice, "" (as the family
    says), "on" or "off"; "on" cannot go past what the provider can send."""
    most = ceiling(provider, model_id)
    family_images, family_documents = family_default(provider, model_id)
    takes_images = images == "on" or (images != "off" and family_images)
    takes_documents = documents == "on" or (documents != "off" and family_documents)
    return Formats(most.images if takes_images else (), most.documents if takes_documents else ())


def refusal(label: str, formats: Formats, attachments) -> str | None:
    """Why this model cannot take these attachments (a sentence naming the model), or None."""
    for attachment in attachments:
        if attachment.kind == "image" and attachment.format not in formats.images:
            return f"{label} does not take images. Pick a model that does, or remove {attachment.name}."
        if attachment.kind == "document" and attachment.format not in formats.documents:
            if not formats.documents:
                return f"{label} does not take documents. Pick a model that does, or remove {attachment.name}."
            return (f"{label} does not take {attachment.format.upper()} documents (it takes "
                    f"{', '.join(f.upper() for f in formats.documents)}). Remove {attachment.name} or pick another model.")
    return None
