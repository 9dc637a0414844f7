import httpx

ROADMAP_PATHS = {
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/me"),
    ("get", "/api/movies"),
    ("get", "/api/movies/{id_or_slug}"),
    ("get", "/api/categories"),
    ("post", "/api/admin/movies"),
    ("put", "/api/admin/movies/{movie_id}"),
    ("delete", "/api/admin/movies/{movie_id}"),
    ("post", "/api/admin/movies/{movie_id}/publish"),
    ("post", "/api/admin/movies/{movie_id}/unpublish"),
    ("post", "/api/admin/categories"),
    ("put", "/api/admin/categories/{category_id}"),
    ("delete", "/api/admin/categories/{category_id}"),
    ("get", "/api/admin/users"),
    ("put", "/api/admin/users/{user_id}"),
    ("get", "/health"),
    ("get", "/health/ready"),
}


async def test_every_endpoint_is_documented_with_its_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = {
        (method, path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }

    assert set(operations) >= ROADMAP_PATHS
    error_ref = "#/components/schemas/ErrorResponse"
    for (method, path), operation in operations.items():
        if path.startswith("/health"):
            continue
        responses = operation["responses"]
        statuses = ("422", "429", "500") if path.startswith("/api/") else ("422", "500")
        for status in statuses:
            assert status in responses, (method, path, status)
            content = responses[status]["content"]["application/json"]["schema"]
            assert content["$ref"] == error_ref, (method, path, status)
        if "/admin/" in path:
            assert {"401", "403"} <= set(responses), (method, path)
        success = next(s for s in responses if s.startswith("2"))
        if path.startswith("/media/"):
            assert responses[success]["content"], (method, path)  # files, not JSON
        elif success != "204":
            assert responses[success]["content"]["application/json"]["schema"], (method, path)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


async def test_the_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()
