"""The baseline: the same framework returning a constant JSON document."""

from fastapi import FastAPI

app = FastAPI()
DOCUMENT = {"items": [], "total": 0, "page": 1, "page_size": 20}


@app.get("/bare")
async def bare() -> dict[str, object]:
    return DOCUMENT


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
