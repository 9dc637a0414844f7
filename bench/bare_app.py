"""The baseline: the same framework returning a constant JSON document."""

import asyncio
import time
from typing import Annotated

import stripe
from fastapi import FastAPI, Header, HTTPException, Request, Response

app = FastAPI()
DOCUMENT = {"items": [], "total": 0, "page": 1, "page_size": 20}
# The endpoint secret of the billing bench's webhooks, here and in its install.
WEBHOOK_SECRET = "whsec_kushfilms_bench_0123456789abcdef"  # noqa: S105 - a bench's


@app.get("/bare")
async def bare() -> dict[str, object]:
    return DOCUMENT


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/webhook")
async def webhook(
    request: Request, stripe_signature: Annotated[str | None, Header()] = None
) -> dict[str, bool]:
    """A webhook that does nothing but check Stripe's signature."""
    try:
        stripe.Webhook.construct_event(await request.body(), stripe_signature or "", WEBHOOK_SECRET)
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise HTTPException(400, "bad signature") from error
    return {"received": True}


@app.get("/timed")
async def timed(response: Response) -> dict[str, object]:
    """A step that only gives the event loop a turn, timed into Server-Timing."""
    started = time.perf_counter()
    await asyncio.sleep(0)
    response.headers["Server-Timing"] = f"noop;dur={(time.perf_counter() - started) * 1000:.3f}"
    return DOCUMENT
