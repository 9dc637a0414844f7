"""Running ffmpeg: finding the binary, reading its progress, stopping it, explaining failures."""

import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from queue import Empty, Queue
from typing import IO

import imageio_ffmpeg

from kushfilms.kit.process import die_with_parent

# ffmpeg writes a progress block every half second; reading with this timeout
# lets a cancel request through promptly even while ffmpeg is silent.
_POLL_SECONDS = 0.25
_REPORT_SECONDS = 1.0
_STOP_CHECK_SECONDS = 0.5
_STDERR_LINES = 60
_STDERR_LINE_CHARS = 400
_SUMMARY_LINES = 3
_SUMMARY_CHARS = 400
# "[vost#0:0/libx264 @ 0x55d0c0] " and the like: which ffmpeg part spoke.
_LOG_PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")
# Lines ffmpeg prints as a failure unwinds; they repeat the cause, never state it.
_ECHOES = (
    "Conversion failed",
    "Task finished with error code",
    "Terminating thread with return code",
    "Nothing was written into output file",
    "Error sending frames to consumers",
    "Could not open encoder before EOF",
    "Error opening output files",
    "Error opening input files",
)


class TranscodeError(Exception):
    """ffmpeg failed; the message says why in a line or two."""


class TranscodeCancelled(Exception):
    """The run was stopped on request."""


def ffmpeg_executable(configured: str) -> str:
    """The configured ffmpeg, else the one bundled with the imageio-ffmpeg wheel."""
    return configured or str(imageio_ffmpeg.get_ffmpeg_exe())


def split_progress_line(line: str) -> tuple[str, str] | None:
    """``key=value`` from one line of ``-progress`` output."""
    key, sep, value = line.strip().partition("=")
    return (key, value) if sep and key else None


def progress_position(block: Mapping[str, str]) -> float | None:
    """Seconds of output written so far, from one ``-progress`` block (None while unknown)."""
    # out_time_ms is microseconds too, a historical misnomer kept by ffmpeg.
    for key in ("out_time_us", "out_time_ms"):
        value = block.get(key, "")
        if value.lstrip("-").isdigit():
            return max(int(value), 0) / 1_000_000
    return None


def fraction_done(block: Mapping[str, str], *, duration: float, frames: float) -> float | None:
    """How much of the run is done (0 to 1), from one ``-progress`` block.

    The frames written (``frame``, counted on the first video output) tell it when
    ``frames`` are expected: ``out_time`` is the slowest unfinished stream's position,
    which runs ahead while one output waits to begin and falls back when another (the
    sound, say) ends, so it serves only when no frame count is known.
    """
    written = block.get("frame", "")
    if frames > 0 and written.isdigit():
        return min(int(written) / frames, 1.0)
    position = progress_position(block)
    if position is None or duration <= 0:
        return None
    return min(position / duration, 1.0)


def summarise_errors(lines: Iterable[str], returncode: int) -> str:
    """The last distinct meaningful stderr lines, short enough for a person to read."""
    meaningful: dict[str, None] = {}
    for line in lines:
        text = _LOG_PREFIX.sub("", line).strip().rstrip(".")
        if text and not text.startswith(_ECHOES):
            meaningful.pop(text, None)  # keep each line once, at its latest place
            meaningful[text] = None
    last = list(meaningful)[-_SUMMARY_LINES:]
    summary = "; ".join(last) if last else f"ffmpeg exited with code {returncode}"
    return summary if len(summary) <= _SUMMARY_CHARS else summary[: _SUMMARY_CHARS - 1] + "…"


def run_ffmpeg(
    command: list[str],
    *,
    duration: float,
    frames: float = 0.0,
    on_progress: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> None:
    """Run a command built with ``-progress pipe:1``; report, obey cancel, explain failure.

    ``on_progress`` gets the fraction done (see :func:`fraction_done`; ``frames``: how
    many the first video output is to have), at most once a second, never less than it
    got before, and 1.0 at the end.
    """
    process = subprocess.Popen(  # noqa: S603 (the command comes from our builders, not from users)
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        preexec_fn=die_with_parent,  # a killed worker must not leave ffmpeg running
    )
    assert process.stdout is not None
    assert process.stderr is not None
    lines: Queue[str | None] = Queue()
    tail: deque[str] = deque(maxlen=_STDERR_LINES)
    readers = [
        threading.Thread(target=_queue_lines, args=(process.stdout, lines), daemon=True),
        threading.Thread(target=_keep_tail, args=(process.stderr, tail), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        _follow(lines, duration, frames, on_progress, should_stop)
        returncode = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join()
    if returncode != 0:
        raise TranscodeError(summarise_errors(tail, returncode))


def _follow(
    lines: Queue[str | None],
    duration: float,
    frames: float,
    on_progress: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> None:
    """Read progress until ffmpeg closes its output; raise if asked to stop."""
    last_check = time.monotonic()
    last_report = float("-inf")
    reached = 0.0
    block: dict[str, str] = {}
    while True:
        if time.monotonic() - last_check >= _STOP_CHECK_SECONDS:
            last_check = time.monotonic()
            if should_stop():
                raise TranscodeCancelled
        try:
            line = lines.get(timeout=_POLL_SECONDS)
        except Empty:
            continue
        if line is None:
            return
        pair = split_progress_line(line)
        if pair is None:
            continue
        key, value = pair
        block[key] = value
        if key != "progress":
            continue  # a block of key=value lines ends with progress=continue|end
        done, block = fraction_done(block, duration=duration, frames=frames), {}
        now = time.monotonic()
        if value == "end":
            on_progress(1.0)
        elif done is not None and done > reached and now - last_report >= _REPORT_SECONDS:
            reached, last_report = done, now
            on_progress(done)


def _queue_lines(stream: IO[str], lines: Queue[str | None]) -> None:
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


def _keep_tail(stream: IO[str], tail: deque[str]) -> None:
    """Only the last lines stay in memory: a failing decode can log megabytes."""
    with stream:
        for line in stream:
            tail.append(line[:_STDERR_LINE_CHARS])
