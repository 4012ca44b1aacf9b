"""WebSocket routes of the books app: the GraphQL endpoint over graphql-transport-ws."""

from django.conf import settings
from django.urls import re_path
from strawberry.channels import GraphQLWSConsumer
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from .schema import schema

websocket_urlpatterns = [
    re_path(
        r"ws/graphql/$",
        GraphQLWSConsumer.as_asgi(
            schema=schema,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            allowed_origins=settings.GRAPHQL_WS_ALLOWED_ORIGINS,
        ),
    ),
]
