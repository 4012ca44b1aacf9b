"""URLs of the ticker example: the admin (the ticker is a WebSocket route, see asgi.py)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
