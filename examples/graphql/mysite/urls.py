"""URLs of the GraphQL example: the admin (GraphQL itself is routed in asgi.py)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
