"""Uploading and downloading attachments (POST /api/attachments/, GET|DELETE /api/attachments/<id>/).

Validated at the edge: the request's size before its body is parsed, then the file's type from its bytes
(chat.file_types), its size for its kind, and the user's quota. Files are only ever served as downloads
(Content-Disposition: attachment, nosniff, our own content type), never inline as HTML from this origin.
Errors are JSON: {"error": {"code", "detail"}} with 400, 401, 404, 409, 413 or 415.
"""

import hashlib
import unicodedata
from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import FileResponse, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from chat.file_types import CONTENT_TYPES, IMAGE, UploadRefused, detect
from chat.models.attachments import MAX_NAME_CHARS, Attachment

# What a multipart body adds around the file (boundaries, part headers, a long file name).
MULTIPART_OVERHEAD = 64 * 1024


def error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


def login_required_json(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return error("unauthenticated", "Log in first.", 401)
        return view(request, *args, **kwargs)

    return wrapped


def megabytes(size: int) -> str:
    if size < 100_000:
        return f"{size:,} bytes"
    return f"{size / 1_000_000:.2f}".rstrip("0").rstrip(".") + " MB"


def largest_upload() -> int:
    return max(settings.MAX_DOCUMENT_BYTES, settings.MAX_IMAGE_BYTES)


def display_name(raw: str | None, fallback_format: str) -> str:
    """The user's file name, for display: whitespace runs as one space, control and formatting characters
    (bidi overrides) dropped, at most MAX_NAME_CHARS characters keeping the extension."""
    spaced = " ".join((raw or "").split())  # tabs and line breaks become single spaces
    name = "".join(c for c in spaced if not unicodedata.category(c).startswith("C")).strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        keep = MAX_NAME_CHARS - len(extension) - 1
        name = stem[:keep] + "." + extension if dot and 0 < len(extension) < 10 and keep > 0 else name[:MAX_NAME_CHARS]
    return name or f"attachment.{fallback_format}"


def refuse_oversized(kind: str, size: int) -> None:
    limit = settings.MAX_IMAGE_BYTES if kind == IMAGE else settings.MAX_DOCUMENT_BYTES
    if size > limit:
        raise UploadRefused("too_large", f"The {kind} is {megabytes(size)}; the most a model takes is {megabytes(limit)}.", 413)


@login_required_json
@require_http_methods(["POST"])
def upload(request):
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit():
        return error("missing_file", "Send the file as multipart/form-data in the field 'file'.", 400)
    if int(declared) > largest_upload() + MULTIPART_OVERHEAD:  # refused before the body is parsed
        return error("too_large", f"The file is larger than {megabytes(largest_upload())}.", 413)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return error("missing_file", "Send the file as multipart/form-data in the field 'file'.", 400)
    if uploaded.size > largest_upload():
        return error("too_large", f"The file is larger than {megabytes(largest_upload())}.", 413)
    data = uploaded.read()
    if not data:
        return error("empty_file", "The file is empty.", 400)
    try:
        found = detect(data, uploaded.name or "")
        refuse_oversized(found.kind, len(data))
        attachment = store(request.user, data, found, display_name(uploaded.name, found.format))
    except UploadRefused as refused:
        return JsonResponse(refused.as_json(), status=refused.status)
    return JsonResponse(attachment.as_json(), status=201)


def store(user, data: bytes, found, name: str) -> Attachment:
    """Save the file and its row within the user's quota. The user's row is locked while the quota is
    counted, so two uploads at once cannot both squeeze under it."""
    attachment = Attachment(owner=user, name=name, kind=found.kind, format=found.format, size=len(data),
                            sha256=hashlib.sha256(data).hexdigest(), pages=found.pages, width=found.width,
                            height=found.height)
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        used = Attachment.objects.bytes_used(user)
        if used + len(data) > settings.ATTACHMENT_QUOTA_BYTES:
            raise UploadRefused(
                "quota_exceeded",
                f"Your attachments already take {megabytes(used)} of your {megabytes(settings.ATTACHMENT_QUOTA_BYTES)}; "
                "this file does not fit. Ask an administrator to remove old ones.", 413)
        attachment.file.save("upload", ContentFile(data), save=False)
        try:
            attachment.save()
        except BaseException:
            attachment.file.storage.delete(attachment.file.name)  # no file without its row
            raise
    return attachment


def findable(request):
    """The attachments this user may fetch: their own (not in a conversation they deleted); staff who
    review history see every one, as they see every message."""
    if request.user.is_staff and request.user.has_perm("chat.view_attachment"):
        return Attachment.objects.all()
    return Attachment.objects.visible_to(request.user)


@login_required_json
@require_http_methods(["GET", "DELETE"])
def attachment(request, attachment_id: int):
    # Only the owner removes; staff read.
    allowed = Attachment.objects.visible_to(request.user) if request.method == "DELETE" else findable(request)
    found = allowed.filter(pk=attachment_id).first()
    if found is None:  # another user's attachment looks exactly like a missing one
        return error("not_found", "No such attachment.", 404)
    if request.method == "DELETE":
        return remove(found)
    try:
        handle = found.file.open("rb")
    except (FileNotFoundError, OSError):  # the storage lost it (files go with their rows, never alone)
        return error("not_found", "This attachment's file has been removed.", 404)
    response = FileResponse(handle, as_attachment=True, filename=found.name, content_type=CONTENT_TYPES[found.format])
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    # Opened directly, whatever it holds runs nothing and reaches nothing: no script, no origin.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def remove(found: Attachment) -> HttpResponse:
    """An upload not sent yet may be removed (the composer's chip); a sent one stays with its message."""
    # Only while still unsent, checked in the DELETE itself: a prompt may be sending it at this moment.
    deleted, _ = Attachment.objects.filter(pk=found.pk, message__isnull=True).delete()
    if not deleted:
        return error("already_sent", "This attachment was sent with a prompt; it stays with that message.", 409)
    return HttpResponse(status=204)  # its file goes when the deletion commits (chat.models.attachments)
