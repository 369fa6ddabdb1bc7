"""What an uploaded file really is, from its bytes (never from its name or the browser's content type),
and whether Bedrock will take it: the formats of Converse's DocumentFormat and ImageFormat, a PDF that
opens without a password, an image within Bedrock's 8000 x 8000 px.

Pure functions on bytes; no database. Refusals are UploadRefused with a stable code, the HTTP status the
API answers with, and a sentence for a person.
"""

import io
import zipfile
from dataclasses import dataclass

DOCUMENT, IMAGE = "document", "image"
# Converse's DocumentFormat and ImageFormat enums (botocore's bedrock-runtime service model).
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
TEXT_FORMATS = ("txt", "md", "csv", "html")  # plain text: read directly where a model needs text
# The service model's Message.content: "Each image's size, height, and width must be no more than 3.75 MB,
# 8000 px, and 8000 px".
MAX_IMAGE_SIDE = 8000

CONTENT_TYPES = {
    "pdf": "application/pdf", "csv": "text/csv", "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html", "txt": "text/plain", "md": "text/markdown",
    "png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
}
# A name's extension -> the format it claims (only to catch a mismatch; the bytes decide).
EXTENSIONS = {
    "pdf": "pdf", "csv": "csv", "doc": "doc", "docx": "docx", "xls": "xls", "xlsx": "xlsx", "html": "html",
    "htm": "html", "txt": "txt", "text": "txt", "md": "md", "markdown": "md", "png": "png", "jpg": "jpeg",
    "jpeg": "jpeg", "jpe": "jpeg", "gif": "gif", "webp": "webp",
}
ALLOWED_NAMES = "PDF, Word (doc, docx), Excel (xls, xlsx), CSV, HTML, text and Markdown documents; PNG, JPEG, GIF and WebP images"

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file of .doc and .xls


class UploadRefused(ValueError):
    def __init__(self, code: str, detail: str, status: int = 400):
        self.code, self.detail, self.status = code, detail, status
        super().__init__(detail)

    def as_json(self) -> dict:
        return {"error": {"code": self.code, "detail": self.detail}}


@dataclass(frozen=True)
class Detected:
    kind: str  # DOCUMENT | IMAGE
    format: str
    pages: int | None = None
    width: int | None = None
    height: int | None = None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def claimed_format(name: str) -> str | None:
    stem, dot, extension = name.rpartition(".")
    return EXTENSIONS.get(extension.lower()) if dot and stem else None


def detect(data: bytes, name: str) -> Detected:
    """The file's kind and format from its bytes; refused when they are not an allowed type, or do not
    match the type its name claims (an .exe renamed .pdf), or Bedrock could not read them."""
    found = binary_format(data)
    claimed = claimed_format(name)
    if found is None and looks_like_text(data):
        found = text_format(data, claimed)
    if found is None:
        if claimed is not None:
            raise UploadRefused("type_mismatch", f"The file's contents are not a {claimed.upper()} file, as its name says.", 415)
        raise UploadRefused("unsupported_type", f"This type of file is not accepted. Attach {ALLOWED_NAMES}.", 415)
    if claimed is not None and claimed != found and not (claimed in TEXT_FORMATS and found in TEXT_FORMATS):
        raise UploadRefused("type_mismatch", f"The file's name says {claimed.upper()} but its contents are {found.upper()}.", 415)
    if found in IMAGE_FORMATS:
        return image_details(data, found)
    if found == "pdf":
        return Detected(DOCUMENT, "pdf", pages=pdf_pages(data))
    return Detected(DOCUMENT, found)


def binary_format(data: bytes) -> str | None:
    if b"%PDF-" in data[:1024]:  # PDF readers accept the header anywhere in the first 1,024 bytes
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"PK\x03\x04"):
        return office_open_format(data)
    if data.startswith(OLE2_MAGIC):
        return compound_file_format(data)
    return None


def office_open_format(data: bytes) -> str | None:
    """docx or xlsx from the zip's list of parts (read from its directory; nothing is extracted)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def compound_file_format(data: bytes) -> str | None:
    """doc or xls: the stream names in the compound file's directory are UTF-16 ("WordDocument", "Workbook")."""
    if "WordDocument".encode("utf-16-le") in data:
        return "doc"
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return "xls"
    return None


def looks_like_text(data: bytes) -> bool:
    if not data or b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def text_format(data: bytes, claimed: str | None) -> str:
    """Text is HTML if it starts like HTML, else the text format its name says (csv, md), else txt."""
    head = data[:1024].decode("utf-8", "ignore").lstrip("\ufeff \t\r\n").lower()
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    return claimed if claimed in TEXT_FORMATS else "txt"


def pdf_pages(data: bytes) -> int:
    """The page count of a PDF that opens without a password; refused if encrypted or unreadable."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadRefused("encrypted_pdf", "The PDF is encrypted (password-protected). Attach a copy without a password.")
        # The page tree's own /Count: len(reader.pages) walks every page (5 s for 2,500 pages, measured
        # by bench/attachments.py), which one upload must not cost the server.
        pages = reader.trailer["/Root"]["/Pages"]["/Count"]
    except UploadRefused:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError):
        raise UploadRefused("unreadable_file", "The PDF could not be read: it is damaged or not a real PDF.") from None
    if not isinstance(pages, int) or pages < 1:
        raise UploadRefused("unreadable_file", "The PDF has no pages.")
    return int(pages)


def image_details(data: bytes, found: str) -> Detected:
    """Format and size from the image's header (Pillow), checked against Bedrock's 8000 x 8000 px; the
    pixels are not decoded, beyond Pillow's verify() of the file's structure."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            pillow_format = (image.format or "").lower()
            if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
                raise UploadRefused("image_too_large", f"The image is {width} x {height} pixels; the most a model "
                                    f"takes is {MAX_IMAGE_SIDE} x {MAX_IMAGE_SIDE}.")
            image.verify()
    except UploadRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError):
        raise UploadRefused("unreadable_file", "The image could not be read: it is damaged or not a real image.") from None
    if pillow_format != found or width < 1 or height < 1:
        raise UploadRefused("unreadable_file", "The image could not be read: it is damaged or not a real image.")
    return Detected(IMAGE, found, width=width, height=height)
