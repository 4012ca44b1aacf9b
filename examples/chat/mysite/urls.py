"""URLs of the chat example: the chat pages and the admin (its login form too)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("chat/", include("chat.urls")),
    path("admin/", admin.site.urls),
]
