from django.urls import path

from chat import api, attachments_api, views

app_name = "chat"
urlpatterns = [
    path("", views.index, name="index"),
    path("api/models/", api.models, name="models"),
    path("api/budget/", api.budget, name="budget"),
    path("api/conversations/", api.conversations, name="conversations"),
    path("api/conversations/<int:conversation_id>/", api.conversation, name="conversation"),
    path("api/attachments/", attachments_api.upload, name="attachments"),
    path("api/attachments/<int:attachment_id>/", attachments_api.attachment, name="attachment"),
]
