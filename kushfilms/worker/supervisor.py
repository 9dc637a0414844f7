"""Keeping a worker process running: the one ``kushfilms serve`` starts beside itself.

A worker that exits, however it exits, is started again after a pause that
doubles with each quick failure (1, 2, 4 … 30 s, :class:`Backoff`), so a worker
that cannot start (the database is down) is retried without spinning; one that
ran a good while before it died is started again after the shortest pause.
Every exit and restart is logged. :meth:`Supervisor.stop` asks the worker to
stop (SIGINT: the running job finishes), and kills it if it does not in time.

The worker runs in a session of its own, so a Ctrl-C at the terminal reaches
the server only, and the worker is stopped once the server has drained; and
it dies with the supervising thread should the server itself be killed.
"""

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before starting again a process that exited."""

    first: float = 1.0
    longest: float = 30.0
    # A process that ran this long was healthy: its next failure is a new story.
    healthy_after: float = 60.0

    def delay(self, previous: float | None, ran_for: float) -> float:
        """The pause before the next start, after one that came ``previous`` seconds
        after the start before it (None: it was the first) and ran ``ran_for``."""
        if previous is None or ran_for >= self.healthy_after:
            return self.first
        return min(self.longest, previous * 2)


class Supervisor:
    """Runs ``command`` on a thread of its own, starting it again whenever it exits."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        backoff: Backoff = Backoff(),
        stop_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = list(command)
        self.env = dict(env) if env is not None else None
        self.backoff = backoff
        self.stop_seconds = stop_seconds
        self.clock = clock
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the process (SIGINT, then SIGKILL after ``stop_seconds``) and for good."""
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                log.warning(
                    "worker (pid %d) did not stop within %g s; killed",
                    process.pid,
                    self.stop_seconds,
                )
                process.kill()
                process.wait()
        self._thread.join(timeout=self.stop_seconds)

    def _supervise(self) -> None:
        delay: float | None = None
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self.process = self._spawn()
            started = self.clock()
            code = process.wait()
            if self._stopping.is_set():
                return
            ran_for = self.clock() - started
            delay = self.backoff.delay(delay, ran_for)
            log.warning(
                "worker (pid %d) exited with %s after %.1f s; starting it again in %g s",
                process.pid,
                _describe(code),
                ran_for,
                delay,
            )
            if self._stopping.wait(delay):
                return

    def _spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 - the command is ours (cli.worker_command)
            self.command, env=self.env, start_new_session=True
        )
        self.starts += 1
        if self.starts > 1:
            log.warning("worker started again (pid %d, start %d)", process.pid, self.starts)
        return process


def _describe(returncode: int) -> str:
    if returncode >= 0:
        return f"code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"
