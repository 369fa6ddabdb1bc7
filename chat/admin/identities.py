"""Single sign-on identities: which provider subject each account belongs to. Staff may remove a link
(say, after moving to another provider) so that the account is linked again at its next sign-in; links
are made only by signing in."""

from django.contrib import admin

from chat.models import OidcIdentity


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "subject", "issuer", "created")
    search_fields = ("user__username", "subject")
    list_select_related = ("user",)
    readonly_fields = ("user", "issuer", "subject", "created")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
