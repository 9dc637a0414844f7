"""Base classes for request and response models."""

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator


class RequestModel(BaseModel):
    """A request body: unknown fields are refused and text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PatchModel(RequestModel):
    """A partial update: only the fields sent change; ``nullable`` ones may be cleared."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_null_for_required(self) -> Self:
        for field in sorted(self.model_fields_set - self.nullable):
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
