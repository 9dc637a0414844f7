"""The revenue report as the API (and the revenue page's charts) send it."""

from datetime import date

from pydantic import Field

from kushfilms.billing.revenue import RevenueReport
from kushfilms.kit.schema import ResponseModel
from kushfilms.models import Plan

CENTS = "In the currency's smallest unit (cents)"


class PlanFiguresOut(ResponseModel):
    plan: Plan
    active: int = Field(description="Subscriptions active at the end of the range")
    mrr: int = Field(description=f"Their monthly prices added up. {CENTS}")


class RevenueDayOut(ResponseModel):
    date: date
    new: int = Field(description="Subscriptions that started this day")
    churned: int = Field(description="Subscriptions that ended this day")
    gross: int = Field(description=f"Payments received this day. {CENTS}")
    refunded: int = Field(description=f"Payments refunded this day. {CENTS}")
    revenue: int = Field(description=f"gross - refunded. {CENTS}")


class RevenueOut(ResponseModel):
    start: date
    end: date = Field(description="Included; days are UTC")
    currency: str
    active_subscriptions: int = Field(description="At the end of the range")
    active_by_plan: list[PlanFiguresOut]
    mrr: int = Field(description=f"Monthly recurring revenue at the end of the range. {CENTS}")
    arpu: int | None = Field(description=f"MRR per active subscriber. {CENTS}")
    new_subscriptions: int
    churned_subscriptions: int
    active_at_start: int
    churn_rate: float | None = Field(
        description="Subscriptions that ended in the range over those active at its start (0-1)"
    )
    gross_revenue: int = Field(description=f"Payments received in the range. {CENTS}")
    refunded: int = Field(description=f"Refunds in the range. {CENTS}")
    revenue: int = Field(description=f"gross_revenue - refunded. {CENTS}")
    viewers: int = Field(description="Accounts (administrators aside) at the end of the range")
    revenue_per_viewer: int | None = Field(description=f"revenue over viewers. {CENTS}")
    signups: int = Field(description="Viewers who joined in the range")
    conversions: int = Field(description="Of those, the ones who started a paid subscription")
    conversion_rate: float | None = Field(description="conversions over signups (0-1)")
    days: list[RevenueDayOut] = Field(description="Every day of the range, zeros included")

    @classmethod
    def of(cls, report: RevenueReport) -> "RevenueOut":
        return cls(
            start=report.range.start,
            end=report.range.end,
            currency=report.currency,
            active_subscriptions=report.active,
            active_by_plan=[
                PlanFiguresOut(plan=f.plan, active=f.active, mrr=f.mrr) for f in report.plans
            ],
            mrr=report.mrr,
            arpu=report.arpu,
            new_subscriptions=report.new,
            churned_subscriptions=report.churned,
            active_at_start=report.active_at_start,
            churn_rate=report.churn_rate,
            gross_revenue=report.gross,
            refunded=report.refunded,
            revenue=report.revenue,
            viewers=report.viewers,
            revenue_per_viewer=report.revenue_per_viewer,
            signups=report.signups,
            conversions=report.conversions,
            conversion_rate=report.conversion_rate,
            days=[
                RevenueDayOut(
                    date=day.day,
                    new=day.new,
                    churned=day.churned,
                    gross=day.gross,
                    refunded=day.refunded,
                    revenue=day.revenue,
                )
                for day in report.days
            ],
        )
