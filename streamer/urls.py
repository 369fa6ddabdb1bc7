from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("chat.oidc.urls")),  # first: the login, logout and admin login pages it replaces
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("chat.urls")),
]
