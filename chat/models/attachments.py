"""Files a user attaches to a prompt: documents and images, kept private, listed with the message that sent them.

The bytes live in the "attachments" storage (settings.STORAGES: by default a FileSystemStorage under
DATA_DIR/attachments, folders 0700 and files 0600; any other backend, such as S3 through django-storages,
by settings alone). Stored names are random: the user's own file name is kept only in `name`, for display.
"""

import uuid

from django.conf import settings
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from chat.file_types import DOCUMENT, DOCUMENT_FORMATS, IMAGE, IMAGE_FORMATS
from chat.providers.attached import AttachedFile

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
        """What counts toward ATTACHMENT_QUOTA_BYTES: every file the user has stored, once (a file sent
        again with a later prompt, as Regenerate does, is shared by both rows)."""
        return sum(dict(self.owned_by(user).values_list("file", "size")).values())

    def by_message(self, message_ids) -> dict[int, list[AttachedFile]]:
        """The files of these messages, as providers see them."""
        files: dict[int, list[AttachedFile]] = {}
        for attachment in self.filter(message_id__in=message_ids).order_by("pk"):
            files.setdefault(attachment.message_id, []).append(attachment.as_attached())
        return files


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

    def as_attached(self) -> AttachedFile:
        return AttachedFile(id=self.pk, name=self.name, kind=self.kind, format=self.format, size=self.size,
                            stored_as=self.file.name, pages=self.pages, width=self.width, height=self.height)

    def shared_copy(self, message) -> "Attachment":
        """A row for the same file, sent again with another message (the file is not copied)."""
        return Attachment(owner_id=self.owner_id, conversation_id=message.conversation_id, message=message,
                          file=self.file.name, name=self.name, kind=self.kind, format=self.format, size=self.size,
                          sha256=self.sha256, pages=self.pages, width=self.width, height=self.height)

    def read_bytes(self) -> bytes:
        with self.file.open("rb") as handle:
            return handle.read()


@receiver(post_delete, sender=Attachment)
def delete_unshared_file(sender, instance, using, **kwargs):
    """A deleted row's file goes once no other row uses it, after the deletion commits (a rolled-back
    delete, such as a failed purge batch, keeps its files). Covers purge_history, admin and cascades alike."""
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: delete_if_unused(name, using), using=using)


def delete_if_unused(name: str, using: str) -> None:
    if not Attachment.objects.using(using).filter(file=name).exists():
        lazy_attachments_storage.delete(name)
