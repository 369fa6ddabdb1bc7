"""Attachments as a provider sees them: the files of each user turn, and which of them a request sends again.

A GenerationRequest's user messages may carry "attachments": a list of AttachedFile. This turn's files are
always sent (the prompt was refused unless the model takes them, at most 5 documents and 20 images). Earlier
turns' files are sent again as context, newest turn first, while the whole request stays within Bedrock's 5
documents and 20 images (the service model's Message.content) and ATTACHMENT_CONTEXT_BYTES; any earlier file
past that is sent as the line "[attached: name]" after its turn's text, so the model still knows it was there.
"""

from dataclasses import dataclass

from chat.file_types import DOCUMENT, IMAGE

MAX_DOCUMENTS = 5
MAX_IMAGES = 20


@dataclass(frozen=True)
class AttachedFile:
    id: int
    name: str  # the user's own name, for display (a Converse document name is sanitised from it)
    kind: str  # "document" | "image"
    format: str  # as detected: pdf, csv, doc, docx, xls, xlsx, html, txt, md, png, jpeg, gif, webp
    size: int
    stored_as: str  # its name in the "attachments" storage
    pages: int | None = None  # a PDF's
    width: int | None = None  # an image's, in pixels
    height: int | None = None

    def read(self) -> bytes:
        """The file's bytes (called in a provider's worker thread, never on the event loop)."""
        from django.core.files.storage import storages

        with storages["attachments"].open(self.stored_as, "rb") as handle:
            return handle.read()


@dataclass(frozen=True)
class TurnFiles:
    sent: list[AttachedFile]  # as blocks
    summarised: list[AttachedFile]  # as "[attached: name]" lines


def plan(messages: list[dict], byte_budget: int, formats, *, max_documents: int = MAX_DOCUMENTS,
         max_images: int = MAX_IMAGES) -> list[TurnFiles]:
    """For each message (in order), its files to send and the ones only named: those past the budget, and
    those the model does not take (`formats`: an earlier turn may have gone to another model)."""
    room = {DOCUMENT: max_documents, IMAGE: max_images}
    plans: list[TurnFiles | None] = [None] * len(messages)
    budget = byte_budget
    for index in reversed(range(len(messages))):
        files = messages[index].get("attachments") or []
        current = index == len(messages) - 1
        sent, summarised = [], []
        for file in files:
            fits = file.format in formats and room[file.kind] > 0 and (current or file.size <= budget)
            if fits:
                room[file.kind] -= 1
                budget -= 0 if current else file.size
                sent.append(file)
            else:
                summarised.append(file)
        plans[index] = TurnFiles(sent, summarised)
    return plans


def with_summary(text: str, summarised: list[AttachedFile]) -> str:
    """The turn's text followed by a line per file not sent again."""
    if not summarised:
        return text
    return text + "\n\n" + "\n".join(f"[attached: {file.name}]" for file in summarised)

