"""The sign-in URLs; their names are the ones mozilla-django-oidc reverses."""

from django.urls import path

from chat.oidc import views

urlpatterns = [
    path("oidc/authenticate/", views.SignIn.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", views.Callback.as_view(), name="oidc_authentication_callback"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.logout, name="logout"),
    path("admin/login/", views.admin_login),
]
