"""Filters for the LOGGING setting."""

import logging

from django.core.exceptions import PermissionDenied


class PermissionDeniedWithoutTraceback(logging.Filter):
    """An expected 403 (say, staff without a permission opening an admin page) is logged as Django's one line,
    "Forbidden (Permission denied): /path", without the traceback Django attaches. Other errors keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
