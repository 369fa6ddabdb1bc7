"""The files sent with a message, on its admin page: each one's name (a download link), kind, format, size,
pages and SHA-256; and the download itself for staff who may view the message.

The download goes through the admin (wrapped in admin_view, the message's view permission) rather than
the user's endpoint, which serves only the owner and staff with the attachment permission. It answers as
that endpoint does: a download, never shown inline, our own content type, nothing in it can run.
"""

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from chat.admin.history import printable
from chat.file_types import CONTENT_TYPES
from chat.models import Attachment


def attachment_response(attachment: Attachment) -> FileResponse:
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError):  # purged: the row is kept for review, the file is gone
        raise Http404("This attachment's file has been removed.") from None
    response = FileResponse(handle, as_attachment=True, filename=attachment.name,
                            content_type=CONTENT_TYPES[attachment.format])
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def size_label(attachment: Attachment) -> str:
    size = f"{attachment.size:,} bytes"
    if attachment.pages:
        size += f", {attachment.pages} page{'s' if attachment.pages != 1 else ''}"
    if attachment.width and attachment.height:
        size += f", {attachment.width}×{attachment.height} px"
    return size


class HasAttachmentsFilter(admin.SimpleListFilter):
    title = "attachments"
    parameter_name = "attachments"

    def lookups(self, request, model_admin):
        return [("yes", "With attachments"), ("no", "Without attachments")]

    def queryset(self, request, queryset):
        sent_with = Exists(Attachment.objects.filter(message=OuterRef("pk")))
        if self.value() == "yes":
            return queryset.filter(sent_with)
        if self.value() == "no":
            return queryset.exclude(sent_with)
        return queryset


class MessageAttachmentsAdmin(admin.ModelAdmin):
    """For the message admin: the attachments field and its download view."""

    @admin.display(description="attachments")
    def attachments_view(self, message):
        attachments = list(message.attachments.order_by("pk"))
        if not attachments:
            return "— (none)"
        rows = format_html_join(
            "", '<tr><td><a href="{}" download>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td><code title="{}">{}…</code></td></tr>',
            ((reverse("admin:chat_message_attachment", args=[message.pk, a.pk]), printable(a.name), a.kind,
              a.format.upper(), size_label(a), a.sha256, a.sha256[:12]) for a in attachments),
        )
        return format_html(
            '<table class="attachment-list" aria-label="Files sent with this prompt">'
            '<thead><tr><th scope="col">file</th><th scope="col">kind</th><th scope="col">format</th>'
            '<th scope="col">size</th><th scope="col">SHA-256</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    def attachment_urls(self):
        return [path("<int:message_id>/attachments/<int:attachment_id>/", self.admin_site.admin_view(self.download_view),
                     name="chat_message_attachment")]

    def download_view(self, request, message_id, attachment_id):
        message = self.get_object(request, str(message_id))
        if message is None or not self.has_view_permission(request, message):
            raise Http404("No such message.")
        attachment = message.attachments.filter(pk=attachment_id).first()
        if attachment is None:
            raise Http404("No such attachment on this message.")
        return attachment_response(attachment)
