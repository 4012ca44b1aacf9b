from django.contrib.auth import views as auth_views
from django.urls import path
from wsapp import views

urlpatterns = [
    path("healthz/", views.healthz),
    path("stats/", views.stats),
    path("probe/<str:probe_id>/", views.probe_record),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
]
