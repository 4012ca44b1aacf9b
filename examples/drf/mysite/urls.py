"""URLs of the djangochannelsrestframework example: the notes' REST API and the admin."""

from django.contrib import admin
from django.urls import include, path
from notes.views import NoteViewSet
from rest_framework.routers import DefaultRouter

router = DefaultRouter()
router.register("notes", NoteViewSet)

urlpatterns = [
    path("api/", include(router.urls)),
    path("admin/", admin.site.urls),
]
