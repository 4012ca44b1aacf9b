from django.urls import path
from wsapp import views

urlpatterns = [
    path("healthz/", views.healthz),
    path("probe/<str:probe_id>/", views.probe_record),
]
