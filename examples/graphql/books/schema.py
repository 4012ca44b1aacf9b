"""The GraphQL schema (strawberry): a query, a mutation and a subscription.

query        { hello(name: "you") }  and  { books(last: 5) { id title author } }
mutation     { addBook(title: "...", author: "...") { id title } }
subscription { count(target: 5) }    five `next` frames (0..4), then `complete`
"""

import asyncio
from collections.abc import AsyncGenerator

import strawberry

from . import models

# The most books one query returns and the most values one subscription counts.
MAX_BOOKS = 100
MAX_COUNT = 1000


@strawberry.type
class Book:
    id: strawberry.ID
    title: str
    author: str

    @classmethod
    def from_model(cls, book: models.Book) -> "Book":
        return cls(id=strawberry.ID(str(book.pk)), title=book.title, author=book.author)


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"Hello {name}"

    @strawberry.field
    async def books(self, last: int = 10) -> list[Book]:
        latest = models.Book.objects.order_by("-id")[: max(0, min(last, MAX_BOOKS))]
        return [Book.from_model(book) async for book in latest]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def add_book(self, title: str, author: str) -> Book:
        book = await models.Book.objects.acreate(title=title, author=author)
        return Book.from_model(book)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self, target: int = 5) -> AsyncGenerator[int, None]:
        for i in range(max(0, min(target, MAX_COUNT))):
            yield i
            await asyncio.sleep(0)


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
