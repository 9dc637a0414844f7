"""Account jobs: the password-reset email, looked up away from the request that asked."""

from kushfilms.accounts import flows
from kushfilms.db import transaction
from kushfilms.worker.context import JobContext
from kushfilms.worker.queue import JobSpec


async def send_password_reset(context: JobContext, email: str) -> None:
    async with transaction(context.db.writer) as session:
        await flows.send_password_reset(session, context.settings, email)


JOBS = (JobSpec(flows.SEND_PASSWORD_RESET, send_password_reset, retries=3, retry_delay=30),)
