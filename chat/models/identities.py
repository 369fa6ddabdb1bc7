"""Which provider subject an account belongs to: single sign-on finds a user by the ID token's (iss, sub),
which the provider never reassigns, not by a username claim, which it may (a renamed or recycled name,
or a username users can edit): a provider account can never take over another person's account here."""

from django.conf import settings
from django.db import models


class OidcIdentity(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, help_text="The ID token's `sub`: stable for the provider's account.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique")]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
