"""One figure over the whole transcode, never falling, and the time left, smoothed."""

import pytest

from kushfilms.media.ingest.probe import probe
from kushfilms.media.transcoding.ladder import plan_ladder, sprite_spec_for
from kushfilms.media.transcoding.progress import (
    MIN_ELAPSED,
    MIN_FRACTION,
    EtaEstimate,
    Stage,
    Tracker,
    stage_costs,
)
from tests.media.samples import sample

COSTS = {Stage.SOURCE: 1.0, Stage.ENCODE: 6.0, Stage.PICTURES: 1.0, Stage.STORE: 2.0}


def test_the_stages_fill_the_bar_in_turn_by_their_cost() -> None:
    tracker = Tracker(COSTS, started=0.0)

    tracker.advance(Stage.SOURCE, 1.0)
    assert tracker.fraction == pytest.approx(0.1)
    tracker.advance(Stage.ENCODE, 0.5)
    assert tracker.fraction == pytest.approx(0.4)
    tracker.advance(Stage.ENCODE, 1.0)
    tracker.advance(Stage.PICTURES, 1.0)
    tracker.advance(Stage.STORE, 1.0)
    assert tracker.fraction == pytest.approx(1.0)


def test_the_figure_never_falls() -> None:
    tracker = Tracker(COSTS, started=0.0)
    tracker.advance(Stage.ENCODE, 0.9)

    tracker.advance(Stage.ENCODE, 0.4)  # a stage telling less than before
    tracker.advance(Stage.SOURCE, 0.0)  # a stage started over
    tracker.advance(Stage.ENCODE, -3.0)

    assert tracker.fraction == pytest.approx(0.64)


def test_encoding_is_most_of_a_films_cost() -> None:
    info = probe(sample("17"))  # 27 s at 426x240

    costs = stage_costs(info, plan_ladder(info, {360: 800}), sprite_spec_for(info.duration))

    assert max(costs, key=lambda stage: costs[stage]) is Stage.ENCODE
    assert all(cost > 0 for cost in costs.values())


def test_the_time_left_is_unknown_until_there_is_something_to_go_on() -> None:
    eta = EtaEstimate(started=100.0)

    assert eta.update(0.5, now=100.0 + MIN_ELAPSED / 2) is None  # too soon
    assert eta.update(MIN_FRACTION / 2, now=130.0) is None  # too little done
    assert eta.update(0.5, now=130.0) == pytest.approx(30.0)
    assert eta.update(1.0, now=150.0) == 0.0


def test_at_a_steady_rate_the_time_left_is_the_true_time_left() -> None:
    eta = EtaEstimate(started=0.0)

    estimates = [eta.update(now / 100, now=now) for now in range(2, 100, 2)]

    for now, left in zip(range(2, 100, 2), estimates, strict=True):
        if now / 100 < MIN_FRACTION:
            assert left is None
        else:
            assert left == pytest.approx(100 - now)


def test_a_sudden_change_of_pace_moves_the_time_left_part_of_the_way() -> None:
    eta = EtaEstimate(started=0.0, smoothing=0.3)
    assert eta.update(0.2, now=20.0) == pytest.approx(80.0)

    # A stage that was given too small a share: 2 s later, 40 % is done at once. The
    # measure says 3 s are left; the estimate, 78 s counted down, moves 30 % of the way.
    left = eta.update(0.4, now=22.0)

    assert left == pytest.approx(78.0 + 0.3 * (33.0 - 78.0))


def test_when_most_of_what_was_left_is_done_at_once_the_measure_counts_most() -> None:
    eta = EtaEstimate(started=0.0, smoothing=0.3)
    assert eta.update(0.1, now=2.0) == pytest.approx(18.0)

    # ffmpeg, silent until every output has begun, then says 90 % in one go: the last
    # estimate was about work that is now behind; the measure (0.44 s) counts 8/9.
    left = eta.update(0.9, now=4.0)

    assert left == pytest.approx(16.0 + (8 / 9) * (4.0 / 9 - 16.0))
    assert left < 2.5


def test_a_stall_raises_the_time_left_gradually() -> None:
    eta = EtaEstimate(started=0.0, smoothing=0.3)
    eta.update(0.5, now=10.0)  # 10 s left

    # Nothing more done for 4 s: 6 s left by the clock, 14 s by the measure.
    assert eta.update(0.5, now=14.0) == pytest.approx(6.0 + 0.3 * (14.0 - 6.0))
