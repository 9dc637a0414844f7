"""A viewer's subscription as the pages tell it: in sentences, and what each plan offers them."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from kushfilms.billing.plans import RANK, PlanOffer, Plans
from kushfilms.billing.service import ChangePreview, Status, is_live
from kushfilms.kit.dates import day
from kushfilms.kit.money import money
from kushfilms.models import Plan, SubscriptionStatus

State = Literal["free", "active", "ending", "past_due", "ended", "unpaid", "pending"]


@dataclass(frozen=True, slots=True)
class Summary:
    state: State
    label: str  # a word or two for the badge
    lines: list[str]
    next_bill: str  # "3 Jan 2027, $2.99", or why there is none
    can_cancel: bool = False
    can_resume: bool = False

    @property
    def pending(self) -> bool:
        return self.state in ("free", "pending")


def summarize(status: Status, plans: Plans, *, now: datetime, grace: timedelta) -> Summary:
    """What the viewer's subscription means for them, in plain sentences."""
    held = status.subscription
    if held is None:
        lines = ["You are on Free: the free library, with ads."]
        return Summary("free", "Free", lines, "No next bill: Free costs nothing")
    name = plans[held.plan].name
    end = held.current_period_end
    bill = f"{day(status.next_bill_at)}, {_amount(status)}" if status.next_bill_at else ""
    if held.status == SubscriptionStatus.ACTIVE and held.cancel_at_period_end:
        lines = [f"Canceled: you keep {name} until {day(end)}, then move to Free."]
        ending = f"No next bill: {name} ends on {day(end)}"
        return Summary("ending", "Canceled", lines, ending, can_resume=True)
    if held.status == SubscriptionStatus.ACTIVE:
        lines = [f"Active: renews on {day(end)} for {_amount(status)}."]
        if held.scheduled_plan is not None:
            lower = plans[held.scheduled_plan].name
            lines.append(f"Downgrade to {lower} on {day(end)}; until then you keep {name}.")
        return Summary("active", "Active", lines, bill, can_cancel=True)
    if held.status == SubscriptionStatus.PAST_DUE:
        deadline = (held.past_due_since or end) + grace
        if now < deadline:
            line = f"Past due: your last payment failed. Update your card by {day(deadline)}"
            lines = [f"{line} to keep {name}."]
        else:
            lines = [
                f"Past due: your last payment failed, so {name} is paused until a payment"
                " goes through. Update your card."
            ]
        owed = bill or "The failed payment, once your card works"
        return Summary("past_due", "Past due", lines, owed, can_cancel=True)
    if held.status == SubscriptionStatus.CANCELED:
        until = held.ended_at or end
        if status.plan != Plan.FREE:
            lines = [f"Canceled: access to {name} until {day(until)}."]
            return Summary(
                "ending", "Canceled", lines, f"No next bill: {name} ends on {day(until)}"
            )
        lines = [f"Your {name} subscription ended on {day(until)}. You are on Free."]
        return Summary("ended", "Ended", lines, "No next bill: you are on Free")
    if held.status == SubscriptionStatus.UNPAID:
        lines = [
            f"Unpaid: the payments for {name} failed and the retries ran out. You are on Free."
        ]
        return Summary("unpaid", "Unpaid", lines, "No next bill: you are on Free")
    lines = [f"Waiting for the first payment for {name} to go through."]
    return Summary("pending", "Pending", lines, "None until the first payment goes through")


def _amount(status: Status) -> str:
    return money(status.next_bill_amount or 0, status.offer.currency)


ActionKind = Literal["join", "sign_in", "checkout", "switch", "keep", "current", "none"]


@dataclass(frozen=True, slots=True)
class Action:
    """What a plan's card on the pricing page offers this viewer."""

    kind: ActionKind
    label: str = ""
    href: str = ""  # for links
    note: str = ""


def plan_action(offer: PlanOffer, status: Status | None, plans: Plans) -> Action:
    """The button (or the note) a plan gets on the pricing page; ``status`` is None
    for anonymous visitors."""
    plan, name = offer.plan, offer.name
    if status is None:
        if plan == Plan.FREE:
            return Action("join", "Join free", href="/register?next=/pricing")
        return Action("sign_in", f"Sign in to choose {name}", href="/login?next=/pricing")
    held = status.subscription
    if held is None or not is_live(held):
        if plan == Plan.FREE:
            return Action("current" if status.plan == Plan.FREE else "none")
        return Action("checkout", f"Choose {name}")
    end = day(held.current_period_end)
    if plan == held.plan:
        if held.scheduled_plan is not None:
            return Action("keep", f"Keep {name}", note=f"Yours until {end}.")
        if held.cancel_at_period_end:
            return Action("current", note=f"Ends on {end}. Resume it on your subscription page.")
        return Action("current")
    if plan == held.scheduled_plan:
        return Action("none", note=f"Starts on {end}.")
    if plan == Plan.FREE:
        if held.cancel_at_period_end:
            return Action("none", note=f"From {end}.")
        return Action(
            "none",
            "Cancel to go back to Free",
            href="/account/subscription/cancel",
            note=f"You keep {plans[held.plan].name} until {end}.",
        )
    if RANK[plan] > RANK[held.plan]:
        note = (
            "Starts now; you pay the difference for the rest of this period, and see"
            " the amount before anything is charged."
        )
    else:
        note = f"Starts on {end}, when the month you paid for ends."
    return Action("switch", f"Switch to {name}", note=note)


@dataclass(frozen=True, slots=True)
class ChangeWords:
    """A change of plan on its confirmation page, before anything is charged."""

    title: str
    charge: str  # what is charged now, and why
    lines: list[str]  # when it starts, what else changes
    next_bill: str  # "3 Feb 2027: $4.99 for Premium, monthly"
    confirm: str  # the button that makes the change
    back: str  # the way out, changing nothing


def _days_left(preview: ChangePreview) -> str:
    days = (
        preview.period_end.astimezone(UTC).date() - preview.proration_date.astimezone(UTC).date()
    ).days
    if days < 1:
        return "the rest of this period"
    return f"the {days} day{'s' if days > 1 else ''} left of this period"


def describe_change(preview: ChangePreview, plans: Plans) -> ChangeWords:
    """The change in plain sentences: the amount charged now and why, when the new plan
    starts, and the next bill, as the provider will make them."""
    new, old = plans[preview.plan], plans[preview.current]
    now = money(preview.amount_due_now, preview.currency)
    end = day(preview.period_end)
    next_bill = (
        f"{end}: {money(preview.next_bill_amount, preview.currency)} for {new.name}, monthly"
    )
    renews = "This also takes back your cancellation: your subscription renews on " + end + "."
    if preview.kind == "upgrade":
        span = f"{day(preview.proration_date)} to {end}"
        charge = (
            f"You pay {now} now: the difference between {old.name} and {new.name} for"
            f" {_days_left(preview)}, {span}."
        )
        lines = [f"{new.name} is yours as soon as you confirm."]
        if preview.resumes:
            lines.append(renews)
        return ChangeWords(
            f"Switch to {new.name}?",
            charge,
            lines,
            next_bill,
            f"Pay {now} and switch to {new.name}",
            f"Keep {old.name}",
        )
    charge = "Nothing is charged now, and nothing is refunded."
    if preview.kind == "keep":
        lines = [f"You keep {new.name}: the switch planned for {end} is called off."]
        if preview.resumes:
            lines.append(renews)
        return ChangeWords(
            f"Keep {new.name}?", charge, lines, next_bill, f"Keep {new.name}", "Go back"
        )
    lines = [
        f"You keep {old.name} until {end}, the end of the period you paid for;"
        f" {new.name} starts then."
    ]
    if preview.resumes:
        lines.append(renews)
    return ChangeWords(
        f"Switch to {new.name}?",
        charge,
        lines,
        next_bill,
        f"Switch to {new.name} on {end}",
        f"Keep {old.name}",
    )
