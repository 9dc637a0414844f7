"""How far a transcode has come: one number over the whole job that only ever rises,
and the time left.

A job runs in stages (bring the source in, encode every rung in one ffmpeg run, make
the pictures, store the outputs), each given a share of the whole by what it is expected
to cost, so the job's progress is one fraction that passes through them in turn. What a
tracker reports never falls, even when a stage starts over or reports a smaller figure;
the stored figure keeps the highest of every attempt (``media.tasks``).

The time left comes from the attempt's rate so far (elapsed time over the fraction
done), smoothed: each new measure moves the last estimate, counted down by the time
since, only part of the way (SMOOTHING), so that a stage running faster or slower than
its share does not make the figure jump about; but the more of what was left has been
done since, the less the last estimate counts (it was about work now behind us).
"""

import enum
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kushfilms.media.ingest.probe import SourceInfo
from kushfilms.media.transcoding.ladder import Rung, SpriteSpec


class Stage(enum.Enum):
    SOURCE = "source"  # store the upload, fetch it back when the store is remote, hash it
    ENCODE = "encode"  # the ffmpeg run: every rung, the thumbnails and poster frames
    PICTURES = "pictures"  # sprite sheets and the poster from the frames
    STORE = "store"  # the outputs and pictures into the media store


# Rough rates on a small two-core server. Only their proportions matter: they divide
# the bar between the stages; the time left is measured, not predicted from them.
_READ_BYTES_PER_SECOND = 300e6  # moving the source in and hashing it
_ENCODE_PIXELS_PER_SECOND = 80e6  # decoding plus every rung, x264 "veryfast"
_STORE_BYTES_PER_SECOND = 100e6
_SECONDS_PER_THUMBNAIL = 0.01
_START_SECONDS = 0.2  # what every stage costs however small the film
_AUDIO_KBPS = 128

# The time left is first estimated once this much of the job is done and this long has
# passed: before, the first quick stage (storing the source) would predict the whole
# job from almost nothing.
MIN_FRACTION = 0.05
MIN_ELAPSED = 2.0
# How far each new measure moves the smoothed estimate at least (sampled at every
# heartbeat, 2 s).
SMOOTHING = 0.3


def stage_costs(info: SourceInfo, rungs: Sequence[Rung], sprite: SpriteSpec) -> dict[Stage, float]:
    """Each stage's expected cost, in seconds on the reference server."""
    frames = info.duration * rungs[0].fps
    pixels = info.width * info.height + sum(rung.width * rung.height for rung in rungs)
    output_kbps = sum(rung.video_kbps + _AUDIO_KBPS for rung in rungs)
    thumbnails = info.duration / sprite.interval
    return {
        Stage.SOURCE: _START_SECONDS + info.size_bytes / _READ_BYTES_PER_SECOND,
        Stage.ENCODE: _START_SECONDS + frames * pixels / _ENCODE_PIXELS_PER_SECOND,
        Stage.PICTURES: _START_SECONDS + thumbnails * _SECONDS_PER_THUMBNAIL,
        Stage.STORE: _START_SECONDS + info.duration * output_kbps * 125 / _STORE_BYTES_PER_SECOND,
    }


@dataclass
class EtaEstimate:
    """Seconds left from the fraction done and the time since ``started``, smoothed."""

    started: float
    smoothing: float = SMOOTHING
    _left: float | None = field(default=None, init=False)
    _at: float = field(default=0.0, init=False)  # when _left was estimated
    _done: float = field(default=0.0, init=False)  # the fraction done then

    def update(self, fraction: float, now: float) -> float | None:
        """The estimate after seeing ``fraction`` (0 to 1) done at ``now``; None until
        there is enough to go on."""
        elapsed = now - self.started
        if fraction >= 1.0:
            self._left, self._at = 0.0, now
            return 0.0
        if fraction < MIN_FRACTION or elapsed < MIN_ELAPSED:
            return self._counted_down(now)
        measured = elapsed * (1.0 - fraction) / fraction
        carried = self._counted_down(now)
        if carried is None:
            self._left = measured
        else:
            behind = (fraction - self._done) / (1.0 - self._done)  # of what was left then
            weight = min(max(self.smoothing, behind), 1.0)
            self._left = carried + weight * (measured - carried)
        self._at, self._done = now, fraction
        return self._left

    def _counted_down(self, now: float) -> float | None:
        """The last estimate, less the time since it was made."""
        if self._left is None:
            return None
        return max(self._left - (now - self._at), 0.0)


class Tracker:
    """One attempt's progress over every stage of the job. Stages report from worker
    threads (ffmpeg's reader) as well as the event loop, hence the lock."""

    def __init__(self, costs: Mapping[Stage, float], *, started: float) -> None:
        total = sum(costs.values()) or 1.0
        self._start: dict[Stage, float] = {}
        self._share: dict[Stage, float] = {}
        before = 0.0
        for stage in Stage:
            share = costs.get(stage, 0.0) / total
            self._start[stage], self._share[stage] = before, share
            before += share
        self._fraction = 0.0
        self._eta = EtaEstimate(started)
        self._lock = threading.Lock()

    def advance(self, stage: Stage, done: float) -> None:
        """``stage`` is ``done`` (0 to 1) through; the job's fraction never falls."""
        fraction = self._start[stage] + self._share[stage] * min(max(done, 0.0), 1.0)
        with self._lock:
            self._fraction = max(self._fraction, min(fraction, 1.0))

    @property
    def fraction(self) -> float:
        with self._lock:
            return self._fraction

    def reading(self, now: float) -> tuple[float, float | None]:
        """The percent done and the seconds left (None until they can be estimated)."""
        fraction = self.fraction
        with self._lock:
            left = self._eta.update(fraction, now)
        return fraction * 100.0, left
