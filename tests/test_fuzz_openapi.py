"""Every text input the API documents, sent a NUL and a control character.

The walk reads the app's own OpenAPI schema, so an endpoint added later is
covered without a line here. For every string in a query, a path or a JSON body
(nested ones too) it sends one request whose other inputs are valid, signed in as
an administrator so that every endpoint reads its input, and expects a refusal:
a 4xx, never a 500 (PostgreSQL answered 500 to NULs, and dropped the connection).
"""

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from tests.catalog.conftest import add_category, add_movie
from tests.conftest import PASSWORD, app_of

PAYLOADS = {"NUL": "a\x00b", "ESC": "a\x1bb"}
# Plain words that match the patterns the schema gives (slugs, upload and device ids).
PATTERN_SAMPLES = ("sample", "sample-value-0123", "x-1.jpg")
Trail = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """A string input of one operation: where it goes and its name (a trail in a body)."""

    method: str
    path: str
    where: str  # "query", "path" or "body"
    trail: Trail

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.where}.{'.'.join(self.trail)}"


class Samples:
    """Valid values for the inputs that are not being fuzzed, from the schema."""

    def __init__(self, spec: dict[str, Any], known: dict[str, str]) -> None:
        self.spec = spec
        self.known = known
        self.counter = itertools.count()

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = self.spec["components"]["schemas"][name]
        for combined in ("anyOf", "oneOf", "allOf"):
            if combined in schema:
                options = [s for s in schema[combined] if s.get("type") != "null"]
                return self.resolve(options[0])
        return schema

    def value(self, schema: dict[str, Any], name: str) -> Any:
        schema = self.resolve(schema)
        if "examples" in schema:
            return schema["examples"][0]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object":
            return self.body(schema)
        if kind == "array":
            return []
        if kind == "boolean":
            return False
        if kind in ("integer", "number"):
            return schema.get("minimum", 1)
        return self.text(schema, name)

    def text(self, schema: dict[str, Any], name: str) -> str:
        if name in self.known:
            return self.known[name]
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        if schema.get("format") == "date":
            return date.today().isoformat()
        if "email" in name:
            return f"fuzz-{next(self.counter)}@example.com"
        if pattern := schema.get("pattern"):
            return next(s for s in PATTERN_SAMPLES if re.search(pattern, s))
        return "sample"

    def body(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = self.resolve(schema)
        properties = schema.get("properties", {})
        return {name: self.value(properties[name], name) for name in schema.get("required", [])}


def string_trails(samples: Samples, schema: dict[str, Any], trail: Trail = ()) -> Iterator[Trail]:
    """The trails to every string in a body schema, into nested objects too."""
    schema = samples.resolve(schema)
    if schema.get("type") == "object":
        for name, inner in schema.get("properties", {}).items():
            yield from string_trails(samples, inner, (*trail, name))
    elif schema.get("type") == "string" and schema.get("format") != "binary":
        yield trail


def json_body(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    found: dict[str, Any] | None = content.get("application/json", {}).get("schema")
    return found


def string_fields(spec: dict[str, Any], samples: Samples) -> Iterator[Field]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = samples.resolve(parameter["schema"])
                if parameter["in"] in ("query", "path") and schema.get("type") == "string":
                    yield Field(method.upper(), path, parameter["in"], (parameter["name"],))
            if (body := json_body(operation)) is not None:
                for trail in string_trails(samples, body):
                    yield Field(method.upper(), path, "body", trail)


def with_value(body: dict[str, Any], trail: Trail, value: str) -> dict[str, Any]:
    changed = dict(body)
    head, *rest = trail
    changed[head] = with_value(changed.get(head) or {}, tuple(rest), value) if rest else value
    return changed


def request_for(spec: dict[str, Any], samples: Samples, field: Field, bad: str) -> dict[str, Any]:
    """The request that sends ``bad`` in ``field`` and valid values everywhere else."""
    operation = spec["paths"][field.path][field.method.lower()]
    path_values: dict[str, str] = {}
    params: dict[str, Any] = {}
    headers: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if (where, (name,)) == (field.where, field.trail):
            value: Any = bad
        elif where == "path" or parameter.get("required"):
            value = samples.value(parameter["schema"], name)
        else:
            continue
        if where == "path":
            path_values[name] = quote(str(value), safe="")
        elif where == "query":
            params[name] = value
        elif where == "header":
            headers[name] = str(value)
    request: dict[str, Any] = {
        "method": field.method,
        "url": field.path.format(**path_values),
        "params": params,
        "headers": headers,
    }
    if (body := json_body(operation)) is not None:
        baseline = samples.body(body)
        request["json"] = (
            with_value(baseline, field.trail, bad) if field.where == "body" else baseline
        )
    return request


async def test_no_text_input_of_the_api_answers_500(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    category = await add_category(client, admin, "Drama")
    movie = await add_movie(client, admin, title="Night Train", category_id=category["id"])
    known = {
        "movie_id": movie["id"],
        "id_or_slug": movie["slug"],
        "category_id": category["id"],
        "user_id": admin["user"]["id"],
        "password": PASSWORD,
    }
    spec = app_of(client).openapi()
    samples = Samples(spec, known)
    fields = list(string_fields(spec, samples))

    answers: dict[str, int] = {}
    for field, (label, bad) in itertools.product(fields, PAYLOADS.items()):
        request = request_for(spec, samples, field, bad)
        request["headers"] = {**admin["headers"], "Tus-Resumable": "1.0.0", **request["headers"]}
        response = await client.request(**request)
        answers[f"{field} ({label})"] = response.status_code

    wrong = [f"{sent}: {status}" for sent, status in answers.items() if not 400 <= status < 500]
    assert not wrong, "\n".join(wrong)
    # The walk found the inputs that once answered 500 (a walk that finds nothing passes).
    covered = {str(field) for field in fields}
    for expected in (
        "GET /api/movies/{id_or_slug} path.id_or_slug",
        "GET /api/movies query.category",
        "GET /api/movies query.search",
        "POST /api/auth/register body.name",
        "POST /api/admin/movies body.title",
        "POST /api/admin/movies body.description",
        "PUT /api/admin/movies/{movie_id} body.title",
        "POST /api/admin/categories body.name",
        "PUT /api/admin/categories/{category_id} body.name",
        "GET /api/admin/users query.search",
        "GET /api/admin/analytics/revenue query.end",
    ):
        assert expected in covered, expected
