"""JSON answers made in one pass, for the hot read paths."""

from typing import Any

from fastapi import Response
from pydantic import TypeAdapter


def json_answer(shape: TypeAdapter[Any], value: Any) -> Response:
    """``value`` (plain dicts and lists) checked against ``shape`` and written as JSON,
    exactly as FastAPI writes a response model, without its second pass over the
    answer (dumping the model and validating it again)."""
    body = shape.dump_json(shape.validate_python(value))
    return Response(body, media_type="application/json")
