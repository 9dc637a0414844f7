"""A small Stripe of our own: the HTTP API the real ``stripe`` SDK calls, on loopback.

It speaks the API version the SDK pins (2026-10-28): billing periods sit on the
subscription's items; an invoice names its subscription under
``parent.subscription_details`` and its payment intents under ``payments``; a
charge no longer names its invoice. Requests are form-encoded as the SDK sends
them; errors come in Stripe's error shape.

What happens on Stripe's side (a customer paying, a renewal failing, a refund,
an operator changing a price) is driven by plain methods that return the
events Stripe would send, for the tests to sign (:meth:`FakeStripe.sign`) and
deliver to our webhook.
"""

import copy
import hashlib
import hmac
import re
import secrets
import string
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_VERSION = "2026-10-28.endive"
CHECKOUT_PAGE = "https://checkout.stripe.test/c/pay/"
PORTAL_PAGE = "https://billing.stripe.test/p/session/"
MONTH = 30 * 86400
RETRY_AFTER = 3 * 86400  # when a failed renewal is tried again

Object = dict[str, Any]
Handler = Callable[[Request, Object], Object]


class Refusal(Exception):
    """An error Stripe answers with: ``{"error": {"type", "message", ...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Object = {"error": {"type": kind, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


def missing(kind: str, object_id: str, param: str = "id") -> Refusal:
    name = kind.replace(".", " ").replace("_", " ")
    return Refusal(404, f"No such {name}: '{object_id}'", code="resource_missing", param=param)


def parse_form(pairs: list[tuple[str, str]]) -> Object:
    """Stripe's nested form keys: ``items[0][price]=p`` is ``{"items": [{"price": "p"}]}``."""
    root: Object = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    found: Object = _lists(root)
    return found


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {key: _lists(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def new_id(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "_" + "".join(secrets.choice(alphabet) for _ in range(24))


def truthy(value: str) -> bool:
    if value not in ("true", "false"):
        raise Refusal(400, f"Invalid boolean: {value}")
    return value == "true"


@dataclass(frozen=True)
class Call:
    """A request the SDK made, as the fake understood it."""

    method: str
    path: str
    params: Object
    idempotency_key: str | None


@dataclass
class FakeStripe:
    """Stripe's API for the calls we make, and the controls of what happens at Stripe."""

    secret_key: str
    webhook_secret: str
    prices: dict[str, int]  # the prices on sale at Stripe: id → cents a month
    currency: str = "usd"
    objects: dict[str, Object] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    events: list[Object] = field(default_factory=list)
    _planned: dict[str, tuple[str, Object]] = field(default_factory=dict)
    _replays: dict[str, tuple[int, Object]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        """Forget everything: a Stripe account as new."""
        with self._lock:
            for kept in (self.objects, self.calls, self.events, self._planned, self._replays):
                kept.clear()

    # --- the HTTP API ---------------------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route("/v1/customers", self._endpoint(self._create_customer), methods=["POST"]),
            Route("/v1/checkout/sessions", self._endpoint(self._create_checkout), methods=["POST"]),
            Route(
                "/v1/checkout/sessions/{id}",
                self._endpoint(self._get("checkout.session")),
                methods=["GET"],
            ),
            Route(
                "/v1/subscriptions/{id}",
                self._endpoint(self._get("subscription")),
                methods=["GET"],
            ),
            Route(
                "/v1/subscriptions/{id}",
                self._endpoint(self._update_subscription),
                methods=["POST"],
            ),
            Route(
                "/v1/invoices/create_preview",
                self._endpoint(self._create_preview),
                methods=["POST"],
            ),
            Route(
                "/v1/invoice_payments",
                self._endpoint(self._list_invoice_payments),
                methods=["GET"],
            ),
            Route(
                "/v1/billing_portal/sessions",
                self._endpoint(self._create_portal),
                methods=["POST"],
            ),
            Route(
                "/{path:path}",
                self._endpoint(self._unknown),
                methods=["GET", "POST", "DELETE"],
            ),
        ]
        return Starlette(routes=routes)

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.secret_key}":
                return JSONResponse(
                    Refusal(401, "Invalid API Key provided.").body,
                    status_code=401,
                )
            body = (await request.body()).decode()
            from_query = list(request.query_params.multi_items())
            from_body = parse_qsl(body, keep_blank_values=True)
            params = parse_form(from_query + from_body)
            key = request.headers.get("idempotency-key")
            with self._lock:
                self.calls.append(Call(request.method, request.url.path, params, key))
                replay = self._replays.get(key or "") if request.method == "POST" else None
                if replay is not None:
                    return JSONResponse(replay[1], status_code=replay[0])
                try:
                    status, answer = 200, copy.deepcopy(handler(request, params))
                except Refusal as refusal:
                    status, answer = refusal.status, refusal.body
                if key and request.method == "POST":
                    self._replays[key] = (status, answer)
            return JSONResponse(answer, status_code=status, headers={"Request-Id": new_id("req")})

        return endpoint

    def _unknown(self, request: Request, _: Object) -> Object:
        raise Refusal(404, f"Unrecognized request URL ({request.method}: {request.url.path}).")

    def _get(self, kind: str) -> Handler:
        def get(request: Request, _: Object) -> Object:
            return self._find(kind, request.path_params["id"])

        return get

    def _find(self, kind: str, object_id: str, param: str = "id") -> Object:
        found = self.objects.get(object_id)
        if found is None or found["object"] != kind:
            raise missing(kind, object_id, param)
        return found

    def _create_customer(self, _: Request, params: Object) -> Object:
        customer = {
            "id": new_id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata", {}),
            "created": now(),
            "livemode": False,
        }
        return self._keep(customer)

    def _create_checkout(self, _: Request, params: Object) -> Object:
        for required in ("mode", "success_url"):
            if not params.get(required):
                raise Refusal(400, f"Missing required param: {required}.", param=required)
        if params["mode"] != "subscription":
            raise Refusal(400, "Only subscription mode is sold here.", param="mode")
        items = params.get("line_items") or []
        if len(items) != 1 or not items[0].get("price"):
            raise Refusal(400, "Pass one line item with a price.", param="line_items")
        price = self._price(items[0]["price"], "line_items[0][price]")
        customer = params.get("customer")
        if customer:
            self._find("customer", customer, "customer")
        session_id = new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "client_reference_id": params.get("client_reference_id"),
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "url": CHECKOUT_PAGE + session_id,
            "currency": self.currency,
            "amount_total": price["unit_amount"],
            "metadata": params.get("metadata", {}),
            "subscription": None,
            "invoice": None,
            "created": now(),
            "expires_at": now() + 86400,
            "livemode": False,
        }
        # Not part of the session's JSON, as on Stripe: what its subscription will be.
        self._planned[session_id] = (
            price["id"],
            (params.get("subscription_data") or {}).get("metadata", {}),
        )
        return self._keep(session)

    def _update_subscription(self, request: Request, params: Object) -> Object:
        subscription = self._find("subscription", request.path_params["id"])
        if subscription["status"] == "canceled":
            raise Refusal(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        previous: Object = {}
        if "cancel_at_period_end" in params:
            cancel = truthy(params["cancel_at_period_end"])
            previous["cancel_at_period_end"] = subscription["cancel_at_period_end"]
            subscription["cancel_at_period_end"] = cancel
            subscription["canceled_at"] = now() if cancel else None
        if params.get("metadata"):
            subscription["metadata"].update(params["metadata"])
        for index, change in enumerate(params.get("items") or []):
            self._change_item(subscription, index, change, params, previous)
        self.events.append(event("customer.subscription.updated", subscription, previous))
        return subscription

    def _change_item(
        self, subscription: Object, index: int, change: Object, params: Object, previous: Object
    ) -> None:
        items = subscription["items"]["data"]
        item = next((item for item in items if item["id"] == change.get("id")), None)
        if item is None:
            raise missing("subscription_item", str(change.get("id")), f"items[{index}][id]")
        if "price" not in change:
            return
        old = item["price"]
        new = self._price(change["price"], f"items[{index}][price]")
        previous["items"] = copy.deepcopy(subscription["items"])
        item["price"] = new
        behavior = params.get("proration_behavior", "create_prorations")
        if behavior not in ("create_prorations", "always_invoice", "none"):
            raise Refusal(400, f"Invalid proration_behavior: {behavior}")
        if behavior == "always_invoice":
            at = self._proration_date(params.get("proration_date"), item, "proration_date")
            lines = self._proration_lines(subscription, item, old, new, at)
            amount = sum(line["amount"] for line in lines)
            if amount > 0:  # a credit would go to the customer's balance: not modelled
                invoice = self._invoice(
                    subscription, amount, "subscription_update", paid=True, lines=lines
                )
                subscription["latest_invoice"] = invoice["id"]
                self.events.append(event("invoice.paid", invoice))

    def _proration_date(self, value: str | None, item: Object, param: str) -> int:
        """The moment prorations are counted from: the one asked for, or now. Stripe
        refuses one outside the item's current period."""
        if value is None:
            return now()
        if not value.isdigit():
            raise Refusal(400, f"Invalid integer: {value}", param=param)
        at = int(value)
        if not item["current_period_start"] <= at <= item["current_period_end"]:
            raise Refusal(
                400, "The proration_date must be within the current billing period.", param=param
            )
        return at

    def _proration_lines(
        self, subscription: Object, item: Object, old: Object, new: Object, at: int
    ) -> list[Object]:
        """Stripe's prorations of a price change at ``at``: the old price's unused time
        credited and the new price's remaining time charged, each by the second to the
        period's end and rounded to the cent."""
        start, end = item["current_period_start"], item["current_period_end"]
        share = (end - at) / max(1, end - start)
        moment = time.strftime("%d %b %Y", time.gmtime(at))
        return [
            self._line(
                item,
                sign * round(price["unit_amount"] * share),
                price=price,
                period=(at, end),
                description=f"{what} time on {price['product']} after {moment}",
                proration=subscription["id"],
            )
            for sign, price, what in ((-1, old, "Unused"), (1, new, "Remaining"))
        ]

    def _create_preview(self, _: Request, params: Object) -> Object:
        """The invoice a subscription's change would make, made by nothing: with
        ``always_invoice``, the prorations invoiced at once; otherwise the next
        renewal's invoice, the prorations on it."""
        subscription_id = params.get("subscription")
        if not subscription_id:
            raise Refusal(400, "Pass a customer or a subscription to preview.", param="customer")
        subscription = copy.deepcopy(self._find("subscription", subscription_id, "subscription"))
        details = params.get("subscription_details") or {}
        behavior = details.get("proration_behavior", "create_prorations")
        if behavior not in ("create_prorations", "always_invoice", "none"):
            raise Refusal(400, f"Invalid proration_behavior: {behavior}")
        lines: list[Object] = []
        for index, change in enumerate(details.get("items") or []):
            items = subscription["items"]["data"]
            item = next((item for item in items if item["id"] == change.get("id")), None)
            if item is None:
                raise missing(
                    "subscription_item",
                    str(change.get("id")),
                    f"subscription_details[items][{index}][id]",
                )
            if "price" not in change:
                continue
            param = f"subscription_details[items][{index}][price]"
            old, new = item["price"], self._price(change["price"], param)
            at = self._proration_date(
                details.get("proration_date"), item, "subscription_details[proration_date]"
            )
            item["price"] = new
            if behavior != "none":
                lines += self._proration_lines(subscription, item, old, new, at)
        item = subscription["items"]["data"][0]
        period = (item["current_period_start"], item["current_period_end"])
        if behavior != "always_invoice":
            length = period[1] - period[0]
            period = (period[1], period[1] + length)
            lines.append(
                self._line(item, item["price"]["unit_amount"], price=item["price"], period=period)
            )
        amount = sum(line["amount"] for line in lines)
        return {
            "id": None,
            "object": "invoice",
            "customer": subscription["customer"],
            "currency": self.currency,
            "amount_due": max(0, amount),
            "amount_paid": 0,
            "amount_remaining": max(0, amount),
            "billing_reason": "upcoming",
            "created": now(),
            "status": "draft",
            "period_start": period[0],
            "period_end": period[1],
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": dict(subscription["metadata"]),
                },
            },
            "lines": {"object": "list", "data": lines, "has_more": False},
            "livemode": False,
        }

    def _create_portal(self, _: Request, params: Object) -> Object:
        customer = self._find("customer", str(params.get("customer")), "customer")
        session_id = new_id("bps")
        return {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": customer["id"],
            "return_url": params.get("return_url"),
            "url": PORTAL_PAGE + session_id,
            "created": now(),
            "livemode": False,
        }

    # --- what happens at Stripe --------------------------------------------------------
    def _list_invoice_payments(self, _: Request, params: Object) -> Object:
        """An invoice's payments, or a payment intent's, as Stripe lists them (the
        invoice itself names none unless its ``payments`` are expanded)."""
        invoice = params.get("invoice")
        payment = params.get("payment") or {}
        if not invoice and not payment:
            raise Refusal(400, "Filter by invoice or payment.", param="invoice")
        if payment and payment.get("type") != "payment_intent":
            raise Refusal(400, "Invalid payment[type]", param="payment[type]")
        found = [
            record
            for record in self.objects.values()
            if record["object"] == "invoice_payment"
            and (not invoice or record["invoice"] == invoice)
            and (
                not payment
                or record["payment"].get("payment_intent") == payment.get("payment_intent")
            )
        ]
        return {"object": "list", "url": "/v1/invoice_payments", "data": found, "has_more": False}

    def complete_checkout(self, session_id: str) -> list[Object]:
        """The customer pays: the subscription starts with its first invoice paid."""
        with self._lock:
            session = self._find("checkout.session", session_id)
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}")
            price, metadata = self._planned[session_id]
            subscription = self._subscription(session["customer"], price, metadata)
            invoice = self._invoice(subscription, session["amount_total"], "subscription_create")
            subscription["latest_invoice"] = invoice["id"]
            session.update(
                status="complete",
                payment_status="paid",
                subscription=subscription["id"],
                invoice=invoice["id"],
            )
            return self._emit(
                ("checkout.session.completed", session, None),
                ("customer.subscription.created", subscription, None),
                ("invoice.paid", invoice, None),
            )

    def renew(self, subscription_id: str) -> list[Object]:
        """The next period starts and its invoice is paid."""
        with self._lock:
            subscription, previous = self._next_period(subscription_id)
            price = subscription["items"]["data"][0]["price"]
            invoice = self._invoice(subscription, price["unit_amount"], "subscription_cycle")
            subscription.update(status="active", latest_invoice=invoice["id"])
            return self._emit(
                ("customer.subscription.updated", subscription, previous),
                ("invoice.paid", invoice, None),
            )

    def fail_renewal(self, subscription_id: str) -> list[Object]:
        """The next period starts but its invoice cannot be paid: the subscription is past due."""
        with self._lock:
            subscription, previous = self._next_period(subscription_id)
            price = subscription["items"]["data"][0]["price"]
            invoice = self._invoice(
                subscription, price["unit_amount"], "subscription_cycle", paid=False
            )
            previous["status"] = subscription["status"]
            subscription.update(status="past_due", latest_invoice=invoice["id"])
            return self._emit(
                ("invoice.payment_failed", invoice, None),
                ("customer.subscription.updated", subscription, previous),
            )

    def pay_invoice(self, invoice_id: str) -> list[Object]:
        """A later attempt pays an open invoice: the subscription is active again."""
        with self._lock:
            invoice = self._find("invoice", invoice_id)
            if invoice["status"] != "open":
                raise ValueError(f"{invoice_id} is {invoice['status']}")
            payment = self._payment_of(invoice_id)
            self._charge(
                invoice["customer"], invoice["amount_due"], payment["payment"]["payment_intent"]
            )
            payment.update(status="paid", amount_paid=invoice["amount_due"])
            invoice.update(
                status="paid",
                amount_paid=invoice["amount_due"],
                amount_remaining=0,
                attempt_count=invoice["attempt_count"] + 1,
                next_payment_attempt=None,
            )
            invoice["status_transitions"]["paid_at"] = now()
            subscription_id = invoice["parent"]["subscription_details"]["subscription"]
            subscription = self._find("subscription", subscription_id)
            previous = {"status": subscription["status"]}
            subscription["status"] = "active"
            return self._emit(
                ("invoice.paid", invoice, None),
                ("customer.subscription.updated", subscription, previous),
            )

    def refund(self, charge_id: str) -> list[Object]:
        """The whole charge is refunded (from the dashboard, say)."""
        with self._lock:
            charge = self._find("charge", charge_id)
            charge.update(refunded=True, amount_refunded=charge["amount"])
            return self._emit(("charge.refunded", charge, {"refunded": False}))

    def delete(self, subscription_id: str) -> list[Object]:
        """The subscription ends now (canceled at once, or its period ran out)."""
        with self._lock:
            subscription = self._find("subscription", subscription_id)
            previous = {"status": subscription["status"]}
            moment = now()
            subscription.update(
                status="canceled",
                ended_at=moment,
                canceled_at=subscription["canceled_at"] or moment,
            )
            return self._emit(("customer.subscription.deleted", subscription, previous))

    def set_price(self, subscription_id: str, price_id: str) -> list[Object]:
        """An operator switches the subscription's price in Stripe's dashboard."""
        with self._lock:
            subscription = self._find("subscription", subscription_id)
            previous = {"items": copy.deepcopy(subscription["items"])}
            subscription["items"]["data"][0]["price"] = self._price(price_id, "price")
            return self._emit(("customer.subscription.updated", subscription, previous))

    def charge_of(self, invoice_id: str) -> str:
        """The charge that paid an invoice."""
        intent = self._payment_of(invoice_id)["payment"]["payment_intent"]
        return next(
            found["id"]
            for found in self.objects.values()
            if found["object"] == "charge" and found["payment_intent"] == intent
        )

    def get(self, object_id: str) -> Object:
        """An object as it stands at Stripe now (a copy)."""
        with self._lock:
            return copy.deepcopy(self.objects[object_id])

    def calls_to(self, method: str, path: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if (call.method, call.path) == (method, path)]

    def sign(self, payload: bytes, *, timestamp: int | None = None, secret: str = "") -> str:
        """The Stripe-Signature header, as Stripe signs: an HMAC-SHA256 of "<t>.<payload>"
        keyed with the endpoint's whole ``whsec_`` secret, hex, under scheme v1."""
        moment = int(time.time()) if timestamp is None else timestamp
        signed = f"{moment}.".encode() + payload
        digest = hmac.new(
            (secret or self.webhook_secret).encode(), signed, hashlib.sha256
        ).hexdigest()
        return f"t={moment},v1={digest}"

    # --- records -----------------------------------------------------------------------
    def _payment_of(self, invoice_id: str) -> Object:
        self._find("invoice", invoice_id)
        return next(
            found
            for found in self.objects.values()
            if found["object"] == "invoice_payment" and found["invoice"] == invoice_id
        )

    def _keep(self, found: Object) -> Object:
        self.objects[found["id"]] = found
        return found

    def _emit(self, *happened: tuple[str, Object, Object | None]) -> list[Object]:
        sent = [event(kind, found, previous) for kind, found, previous in happened]
        self.events.extend(sent)
        return sent

    def _price(self, price_id: str, param: str) -> Object:
        if price_id not in self.prices:
            raise missing("price", price_id, param)
        return {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": self.currency,
            "unit_amount": self.prices[price_id],
            "recurring": {"interval": "month", "interval_count": 1},
            "product": "prod_" + price_id.removeprefix("price_"),
            "type": "recurring",
        }

    def _subscription(self, customer: str, price_id: str, metadata: Object) -> Object:
        start = now()
        subscription_id = new_id("sub")
        return self._keep(
            {
                "id": subscription_id,
                "object": "subscription",
                "customer": customer,
                "status": "active",
                "created": start,
                "start_date": start,
                "billing_cycle_anchor": start,
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "collection_method": "charge_automatically",
                "currency": self.currency,
                "latest_invoice": None,
                "metadata": dict(metadata),
                "livemode": False,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": new_id("si"),
                            "object": "subscription_item",
                            "created": start,
                            "price": self._price(price_id, "price"),
                            "quantity": 1,
                            "subscription": subscription_id,
                            "current_period_start": start,
                            "current_period_end": start + MONTH,
                        }
                    ],
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/subscription_items?subscription={subscription_id}",
                },
            }
        )

    def _next_period(self, subscription_id: str) -> tuple[Object, Object]:
        subscription = self._find("subscription", subscription_id)
        previous = {"items": copy.deepcopy(subscription["items"])}
        item = subscription["items"]["data"][0]
        start = item["current_period_end"]
        item.update(current_period_start=start, current_period_end=start + MONTH)
        return subscription, previous

    def _invoice(
        self,
        subscription: Object,
        amount: int,
        reason: str,
        *,
        paid: bool = True,
        lines: list[Object] | None = None,
    ) -> Object:
        """An invoice of the subscription's current period, paid through a payment
        intent (and its charge) or left open after a failed attempt."""
        item = subscription["items"]["data"][0]
        moment = now()
        invoice_id, intent = new_id("in"), new_id("pi")
        if paid:
            self._charge(subscription["customer"], amount, intent)
        self._keep(
            {
                "id": new_id("inpay"),
                "object": "invoice_payment",
                "amount_paid": amount if paid else None,
                "amount_requested": amount,
                "currency": self.currency,
                "invoice": invoice_id,
                "is_default": True,
                "status": "paid" if paid else "open",
                "payment": {"type": "payment_intent", "payment_intent": intent},
            }
        )
        return self._keep(
            {
                "id": invoice_id,
                "object": "invoice",
                "customer": subscription["customer"],
                "currency": self.currency,
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "amount_remaining": 0 if paid else amount,
                "attempt_count": 1,
                "attempted": True,
                "billing_reason": reason,
                "created": moment,
                "status": "paid" if paid else "open",
                "status_transitions": {
                    "finalized_at": moment,
                    "paid_at": moment if paid else None,
                },
                "next_payment_attempt": None if paid else moment + RETRY_AFTER,
                "period_start": item["current_period_start"],
                "period_end": item["current_period_end"],
                "parent": {
                    "type": "subscription_details",
                    "quote_details": None,
                    "subscription_details": {
                        "subscription": subscription["id"],
                        "metadata": dict(subscription["metadata"]),
                    },
                },
                "lines": {
                    "object": "list",
                    "data": lines or [self._line(item, amount)],
                    "has_more": False,
                },
                "livemode": False,
            }
        )

    def _charge(self, customer: str, amount: int, intent: str) -> Object:
        return self._keep(
            {
                "id": new_id("ch"),
                "object": "charge",
                "amount": amount,
                "amount_refunded": 0,
                "currency": self.currency,
                "customer": customer,
                "payment_intent": intent,
                "paid": True,
                "refunded": False,
                "status": "succeeded",
                "description": "Subscription",
                "created": now(),
                "livemode": False,
            }
        )

    def _line(
        self,
        item: Object,
        amount: int,
        *,
        price: Object | None = None,
        period: tuple[int, int] | None = None,
        description: str = "",
        proration: str | None = None,
    ) -> Object:
        """An invoice line of the item: its price for its period, unless told otherwise;
        a proration (of the subscription ``proration``) says so on its parent."""
        price = price or item["price"]
        start, end = period or (item["current_period_start"], item["current_period_end"])
        cost = f"{price['unit_amount'] / 100:.2f} {self.currency.upper()}"
        described = f"1 \N{MULTIPLICATION SIGN} {price['product']} (at {cost} / month)"
        return {
            "id": new_id("il"),
            "object": "line_item",
            "amount": amount,
            "currency": self.currency,
            "description": description or described,
            "period": {"start": start, "end": end},
            "parent": {
                "type": "subscription_item_details",
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": new_id("ii") if proration else None,
                    "proration": bool(proration),
                    "proration_details": {"credited_items": None},
                    "subscription": proration or item["subscription"],
                    "subscription_item": item["id"],
                },
            },
            "pricing": {
                "type": "price_details",
                "price_details": {"price": price["id"], "product": price["product"]},
                "unit_amount_decimal": str(price["unit_amount"]),
            },
        }


def now() -> int:
    return int(time.time())


def event(kind: str, found: Object, previous: Object | None = None) -> Object:
    """An event as Stripe sends it: the object as it was at that moment."""
    data: Object = {"object": copy.deepcopy(found)}
    if previous:
        data["previous_attributes"] = copy.deepcopy(previous)
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }
