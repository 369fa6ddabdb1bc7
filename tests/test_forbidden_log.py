"""An expected 403 in the admin is logged as one line, not a traceback; real errors keep their traceback."""

import logging

import pytest
from django.core.exceptions import PermissionDenied

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(django_user_model):
    """Staff, but with no permission on messages."""
    return django_user_model.objects.create_user("clerk", password="clerk-password-1", is_staff=True)


@pytest.mark.parametrize("url", ["/admin/chat/message/export.csv", "/admin/chat/message/dashboard/"])
def test_admin_403_is_logged_as_one_line(client, clerk, caplog, url):
    client.force_login(clerk)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(url).status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == f"Forbidden (Permission denied): {url}"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text and len(caplog.text.strip().splitlines()) == 1


def test_other_errors_keep_their_traceback(caplog):
    logger = logging.getLogger("django.request")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        try:
            raise ValueError("a real bug")
        except ValueError:
            logger.exception("Internal Server Error: /boom")
        try:
            raise PermissionDenied
        except PermissionDenied:
            logger.warning("Forbidden (Permission denied): /admin/x/", exc_info=True)
    bug, forbidden = [r for r in caplog.records if r.name == "django.request"]
    assert bug.exc_info and "ValueError: a real bug" in caplog.text
    assert forbidden.exc_info is None
