"""The notes over a WebSocket: djangochannelsrestframework's generic API consumer.

A client sends {"action": "list" | "retrieve" | "create" | "count", "request_id": ..., ...}
and gets {"action": ..., "request_id": <the same>, "response_status": ..., "data": ...,
"errors": [...]} back, so it can match each reply to its request.
"""

from djangochannelsrestframework import permissions
from djangochannelsrestframework.decorators import action
from djangochannelsrestframework.generics import GenericAsyncAPIConsumer
from djangochannelsrestframework.mixins import (
    CreateModelMixin,
    PaginatedModelListMixin,
    RetrieveModelMixin,
)
from djangochannelsrestframework.pagination import WebsocketLimitOffsetPagination
from rest_framework import status

from .models import Note
from .serializers import NoteSerializer


class NoteConsumer(
    PaginatedModelListMixin, RetrieveModelMixin, CreateModelMixin, GenericAsyncAPIConsumer
):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    pagination_class = WebsocketLimitOffsetPagination
    permission_classes = (permissions.AllowAny,)

    @action()
    def count(self, **kwargs):
        """How many notes there are: a custom action next to the generic ones."""
        return {"count": Note.objects.count()}, status.HTTP_200_OK
