"""POST /api/attachments/: real files accepted with what was detected from their bytes; everything else
refused with a JSON error a person can read, and nothing stored."""

import hashlib
import stat

import pytest

from chat.models import Attachment
from tests.attachment_files import (
    EXE_BYTES, attachment_storage, client_for, encrypted_pdf_bytes, image_bytes, pdf_bytes, png_header_only, upload,
)

pytestmark = pytest.mark.django_db
__all__ = ["attachment_storage"]


def stored_files(location):
    return [path for path in location.rglob("*") if path.is_file()] if location.exists() else []


def test_a_real_pdf_is_accepted_with_its_pages_and_digest(alice, attachment_storage):
    data = pdf_bytes("Page one.", "Page two.")
    response = upload(client_for(alice), "Quarterly report.pdf", data, "application/pdf")
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "name": "Quarterly report.pdf", "kind": "document", "format": "pdf",
                    "size": len(data), "pages": 2, "sha256": hashlib.sha256(data).hexdigest()}
    saved = Attachment.objects.get(pk=body["id"])
    assert saved.owner == alice and saved.message is None
    assert saved.read_bytes() == data


def test_png_and_jpeg_are_images_with_their_dimensions(alice, attachment_storage):
    client = client_for(alice)
    png = upload(client, "screenshot.png", image_bytes("PNG", (40, 30))).json()
    jpeg = upload(client, "photo.JPG", image_bytes("JPEG", (64, 48))).json()
    assert (png["kind"], png["format"], png["width"], png["height"]) == ("image", "png", 40, 30)
    assert (jpeg["kind"], jpeg["format"], jpeg["width"], jpeg["height"]) == ("image", "jpeg", 64, 48)


def test_text_formats_come_from_the_bytes_and_the_name(alice, attachment_storage):
    client = client_for(alice)
    assert upload(client, "notes.md", b"# Notes\n\n- one\n").json()["format"] == "md"
    assert upload(client, "table.csv", b"a,b\n1,2\n").json()["format"] == "csv"
    assert upload(client, "page.txt", b"<!DOCTYPE html><html><body>Hi</body></html>").json()["format"] == "html"


def test_the_stored_file_is_private_and_not_named_after_the_upload(alice, attachment_storage):
    response = upload(client_for(alice), "../../etc/passwd.txt", b"just text\n")
    assert response.status_code == 201, response.content
    [path] = stored_files(attachment_storage)
    assert "passwd" not in str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(attachment_storage.stat().st_mode) == 0o700
    assert Attachment.objects.get().name == "passwd.txt"  # Django keeps only the base name


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("invoice.pdf", EXE_BYTES, 415, "type_mismatch"),  # an .exe renamed .pdf
    ("setup.exe", EXE_BYTES, 415, "unsupported_type"),
    ("holiday.png", image_bytes("JPEG"), 415, "type_mismatch"),  # a real image, but not what its name says
    ("notes.pdf", b"plain text, not a PDF\n", 415, "type_mismatch"),
    ("secret.pdf", encrypted_pdf_bytes(), 400, "encrypted_pdf"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", 400, "unreadable_file"),
    ("broken.png", image_bytes("PNG")[:40], 400, "unreadable_file"),
    ("huge.png", png_header_only(8001, 10), 400, "image_too_large"),
    ("empty.txt", b"", 400, "empty_file"),
])
def test_refused_files_get_a_clear_json_error_and_nothing_is_stored(alice, attachment_storage, name, data, status, code):
    response = upload(client_for(alice), name, data)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["detail"].endswith(".")
    assert not Attachment.objects.exists()
    assert stored_files(attachment_storage) == []


def test_an_image_at_bedrocks_largest_side_is_accepted(alice, attachment_storage):
    response = upload(client_for(alice), "tall.png", png_header_only(10, 8000))
    assert response.status_code == 201 and response.json()["height"] == 8000


def test_oversized_files_are_refused_per_kind(alice, attachment_storage, settings):
    settings.MAX_DOCUMENT_BYTES = 2000
    settings.MAX_IMAGE_BYTES = 1000
    client = client_for(alice)
    document = upload(client, "long.txt", b"x" * 2001)
    assert document.status_code == 413 and document.json()["error"]["code"] == "too_large"
    assert upload(client, "fits.txt", b"x" * 2000).status_code == 201
    image = upload(client, "big.png", image_bytes("PNG", (20, 20), None))
    assert image.status_code == 413 and "image" in image.json()["error"]["detail"]
    assert Attachment.objects.count() == 1


def test_a_request_over_the_limit_is_refused_before_its_body_is_read(alice, attachment_storage, settings):
    settings.MAX_DOCUMENT_BYTES = settings.MAX_IMAGE_BYTES = 1000
    response = upload(client_for(alice), "big.txt", b"y" * 200_000)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_no_file_field_and_no_login(alice, attachment_storage, client):
    missing = client_for(alice).post("/api/attachments/", {"other": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing_file"
    anonymous = upload(client, "a.txt", b"hi")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"


def test_upload_needs_the_csrf_token(alice, attachment_storage):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert upload(client, "a.txt", b"hi").status_code == 403
