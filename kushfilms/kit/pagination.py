"""Every list endpoint answers ``{"items", "total", "page", "page_size"}``."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PAGE_SIZE = 100
T = TypeVar("T")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    page_size: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """A page of domain objects, before the route shapes them."""

    items: Sequence[T]
    total: int
    request: PageRequest


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    """How many rows ``statement`` selects, counted in the database."""
    counting = statement.with_only_columns(func.count(), maintain_column_froms=True)
    total = await session.scalar(counting.order_by(None))
    return int(total or 0)


async def paginate_scalars(
    session: AsyncSession, statement: Select[T], request: PageRequest
) -> Paged[T]:
    total = await count(session, statement)
    rows = await session.scalars(statement.limit(request.page_size).offset(request.offset))
    return Paged(items=rows.all(), total=total, request=request)


def to_page(paged: Paged[S], convert: Callable[[S], T]) -> Page[T]:
    return Page(
        items=[convert(item) for item in paged.items],
        total=paged.total,
        page=paged.request.page,
        page_size=paged.request.page_size,
    )
