"""What the history admins share: read-only records that superusers may delete unless streaming, and previews."""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.utils.html import format_html

PREVIEW_CHARS = 60


def printable(text: str) -> str:
    """Stored text as a page can send it: what UTF-8 cannot encode (a lone surrogate such as \\ud800, which
    SQLite keeps inside a JSON field from before frames were checked) is shown as its escape, never a 500."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    flat = " ".join(printable(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_badge(status: str):
    return format_html('<span class="status-badge status-{}">{}</span>', status, status)


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """Nobody adds or changes history; superusers may delete what is not streaming."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        if not request.user.is_superuser:
            return False
        return obj is None or not self.is_streaming(obj)

    def is_streaming(self, obj) -> bool:
        raise NotImplementedError

    def streaming_filter(self):
        raise NotImplementedError

    @admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s")
    def delete_selected(self, request, queryset):
        """Django's delete action, leaving out whatever is still streaming (its run would write it back)."""
        busy = queryset.filter(self.streaming_filter())
        if busy.exists():
            self.message_user(request, f"Skipped {busy.count()} still streaming: wait until they finish.", messages.WARNING)
            queryset = queryset.exclude(pk__in=busy.values("pk"))
            if not queryset.exists():
                return None
        return django_delete_selected(self, request, queryset)
