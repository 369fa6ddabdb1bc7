"""Files a user attaches to a prompt: documents and images, kept private, listed with the message that sent them.

The bytes live in the "attachments" storage (settings.STORAGES: by default a FileSystemStorage under
DATA_DIR/attachments, folders 0700 and files 0600; any other backend, such as S3 through django-storages,
by settings alone). Stored names are random: the user's own file name is kept only in `name`, for display.
"""

import uuid

from django.conf import settings
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.db import models
from django.db.models import Sum
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from chat.file_types import DOCUMENT, DOCUMENT_FORMATS, IMAGE, IMAGE_FORMATS

ATTACHMENTS_STORAGE = "attachments"
MAX_NAME_CHARS = 255


class AttachmentsStorage(LazyObject):
    """storages["attachments"], looked up on first use like Django's default_storage, and again after a
    change of STORAGES (a test's override): a FileField keeps the storage object it is given for good."""

    def _setup(self):
        self._wrapped = storages[ATTACHMENTS_STORAGE]


lazy_attachments_storage = AttachmentsStorage()


@receiver(setting_changed)
def storages_changed(*, setting, **kwargs):
    if setting == "STORAGES":
        lazy_attachments_storage._wrapped = empty


def attachments_storage():
    """The FileField's storage, as a callable so migrations name this function rather than a backend."""
    return lazy_attachments_storage


def stored_name(attachment, _original: str) -> str:
    # Random, never the user's name: a name cannot collide, traverse or tell anything about the file.
    return timezone.now().strftime("%Y/%m/%d/") + f"{uuid.uuid4().hex}.{attachment.format}"


class AttachmentQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(owner=user)

    def visible_to(self, user):
        """The user's attachments they may still see and send: not ones in a conversation they deleted
        (those stay for staff, as the messages do)."""
        return self.owned_by(user).filter(
            models.Q(conversation__isnull=True) | models.Q(conversation__deleted_at__isnull=True))

    def bytes_used(self, user) -> int:
        """What counts toward ATTACHMENT_QUOTA_BYTES: every file the user has stored."""
        return self.owned_by(user).aggregate(total=Sum("size"))["total"] or 0

    def delete_files(self) -> int:
        """Delete these rows' files from the storage (the rows stay to the caller); returns how many."""
        storage = attachments_storage()
        deleted = 0
        for name in self.exclude(file="").values_list("file", flat=True):
            storage.delete(name)
            deleted += 1
        return deleted


class Attachment(models.Model):
    class Kind(models.TextChoices):
        DOCUMENT = DOCUMENT
        IMAGE = IMAGE

    FORMAT_CHOICES = [(name, name) for name in DOCUMENT_FORMATS + IMAGE_FORMATS]

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments")
    # Set when a prompt sends it; an upload not sent yet has neither.
    conversation = models.ForeignKey("chat.Conversation", on_delete=models.CASCADE, null=True, blank=True,
                                     related_name="attachments")
    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, null=True, blank=True,
                                related_name="attachments")
    file = models.FileField(storage=attachments_storage, upload_to=stored_name, max_length=200)
    name = models.CharField(max_length=MAX_NAME_CHARS, help_text="The user's own file name, for display only.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    format = models.CharField(max_length=8, choices=FORMAT_CHOICES, help_text="Detected from the bytes.")
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    sha256 = models.CharField(max_length=64)
    pages = models.PositiveIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"{self.name} ({self.format}, {self.size:,} bytes)"

    def as_json(self) -> dict:
        """What the upload answers with (POST /api/attachments/)."""
        found = {"id": self.pk, "name": self.name, "kind": self.kind, "format": self.format, "size": self.size,
                 "sha256": self.sha256}
        if self.pages is not None:
            found["pages"] = self.pages
        if self.width is not None:
            found |= {"width": self.width, "height": self.height}
        return found

    def summary_json(self) -> dict:
        """What a message lists of each attachment (the conversation's history)."""
        return {"id": self.pk, "name": self.name, "kind": self.kind, "format": self.format, "size": self.size}

    def read_bytes(self) -> bytes:
        with self.file.open("rb") as handle:
            return handle.read()
