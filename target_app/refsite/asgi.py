"""ASGI entry point: HTTP to Django, WebSockets through the Channels routing.

Built as the Channels setup notes describe: ProtocolTypeRouter at the top,
Django's ASGI application for "http", AuthMiddlewareStack around URLRouter for
"websocket".
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "refsite.settings")

# Set up Django (and its app registry) before importing code that uses models.
django_asgi_app = get_asgi_application()

import wsapp.routing  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from refsite.dbsetup import ensure_database  # noqa: E402

ensure_database()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(wsapp.routing.websocket_urlpatterns)),
    }
)
