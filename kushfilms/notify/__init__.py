"""Emails: queued with the transaction that causes them, sent by a background job."""

from kushfilms.notify.kinds import EmailKind
from kushfilms.notify.service import queue_email, queue_email_in

__all__ = ["EmailKind", "queue_email", "queue_email_in"]
