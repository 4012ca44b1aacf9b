"""ASGI config of the GraphQL example: HTTP to strawberry's GraphQL consumer at
/graphql/ and to Django for the rest, WebSocket through the origin check and the
session/auth middleware to strawberry's GraphQL WebSocket consumer."""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application
from django.urls import re_path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
# Initialize Django's ASGI application early to ensure the AppRegistry
# is populated before importing code that may import ORM models.
django_asgi_app = get_asgi_application()

from books.routing import websocket_urlpatterns  # noqa: E402
from books.schema import schema  # noqa: E402
from strawberry.channels import GraphQLHTTPConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                re_path(r"^graphql/$", GraphQLHTTPConsumer.as_asgi(schema=schema)),
                re_path(r"^", django_asgi_app),
            ]
        ),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
