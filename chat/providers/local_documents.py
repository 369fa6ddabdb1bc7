"""Documents for the local model, which reads text only: each of this turn's documents becomes text placed
before the prompt (pypdf for PDF; txt, md, csv and html read as they are; other formats and images are
refused, as the catalog already does before anything is saved), cut to fit the context window. Earlier
turns' files are named only ("[attached: name]"): a small model's window has no room to read them again.
"""

import io
import logging
from dataclasses import replace

from chat.file_types import TEXT_FORMATS
from chat.providers.attached import AttachedFile, with_summary
from chat.providers.base import GenerationRequest, ProviderError

log = logging.getLogger(__name__)

# Characters of document text per token of LOCAL_MODEL_CONTEXT, for everything the prompt carries: a cautious
# guess (English runs 3-4 characters a token), leaving the rest of the window to the answer.
CHARS_PER_CONTEXT_TOKEN = 2


def with_document_text(request: GenerationRequest, context_tokens: int) -> GenerationRequest:
    """The request with its files turned into text in the messages' own text, for the local model."""
    if not any(message.get("attachments") for message in request.messages):
        return request
    text_so_far = sum(len(message["text"]) for message in request.messages) + len(request.system)
    budget = max(0, context_tokens * CHARS_PER_CONTEXT_TOKEN - text_so_far)
    messages = []
    for index, message in enumerate(request.messages):
        files = message.get("attachments") or []
        if index < len(request.messages) - 1:
            text = with_summary(message["text"], files)
        else:
            text = documents_text(files, budget) + message["text"]
        messages.append({"role": message["role"], "text": text})
    return replace(request, messages=messages)


def documents_text(files: list[AttachedFile], budget: int) -> str:
    """Each document as "[Document: name]" and its text, sharing `budget` characters; one cut short says so."""
    parts, remaining = [], budget
    for position, file in enumerate(files):
        share = remaining // (len(files) - position)
        text = extracted_text(file)
        if len(text) > share:
            text = text[:share] + f"\n[… the rest of {file.name} did not fit in the local model's context window]"
        remaining -= min(len(text), share)
        parts.append(f"[Document: {file.name}]\n{text}\n[End of {file.name}]\n\n")
    return "".join(parts)


def extracted_text(file: AttachedFile) -> str:
    if file.kind == "image":
        raise ProviderError("unsupported_attachment", "The local model cannot see images. Pick a model that does.")
    if file.format in TEXT_FORMATS:
        return file.read().decode("utf-8", "replace").lstrip("\ufeff")
    if file.format != "pdf":
        raise ProviderError("unsupported_attachment",
                            f"The local model reads PDF and text documents only, not {file.format.upper()}.")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(file.read()), strict=False)
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except Exception as error:  # a PDF pypdf read at upload but cannot take the text of: say so, do not crash
        log.warning("Could not extract the text of attachment %s: %r", file.id, error)
        raise ProviderError("unsupported_attachment", f"The text of {file.name} could not be read.") from error
