from django.apps import AppConfig


class WsappConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wsapp"
