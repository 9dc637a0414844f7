import os
import subprocess

import pytest

from kushfilms.media.ffmpeg import (
    TranscodeError,
    ffmpeg_executable,
    fraction_done,
    progress_position,
    run_ffmpeg,
    split_progress_line,
    summarise_errors,
)
from tests.media.samples import sample

# What ffmpeg 9 prints (with -loglevel error) when libx264 meets file 10's 161x121.
ODD_SIZE_STDERR = """\
[libx264 @ 0x55575a92bec0] width not divisible by 2 (161x121)
[vost#0:0/libx264 @ 0x55575a92b2c0] [enc:libx264 @ 0x55575a92be00] Error while opening encoder - maybe incorrect parameters such as bit_rate, rate, width or height.
[vf#0:0 @ 0x55575a92f2c0] Error sending frames to consumers: Generic error in an external library
[vf#0:0 @ 0x55575a92f2c0] Task finished with error code: -542398533 (Generic error in an external library)
[vf#0:0 @ 0x55575a92f2c0] Terminating thread with return code -542398533 (Generic error in an external library)
[vost#0:0/libx264 @ 0x55575a92b2c0] [enc:libx264 @ 0x55575a92be00] Could not open encoder before EOF
[vost#0:0/libx264 @ 0x55575a92b2c0] Task finished with error code: -22 (Invalid argument)
[vost#0:0/libx264 @ 0x55575a92b2c0] Terminating thread with return code -22 (Invalid argument)
[out#0/null @ 0x55575a92a7c0] Nothing was written into output file, because at least one of its streams received no packets.
"""  # noqa: E501


def quiet(*arguments: str) -> list[str]:
    return [ffmpeg_executable(""), "-hide_banner", "-nostdin", "-loglevel", "error", *arguments]


def test_the_bundled_ffmpeg_is_used_unless_one_is_configured() -> None:
    bundled = ffmpeg_executable("")
    assert os.access(bundled, os.X_OK)
    version = subprocess.run([bundled, "-version"], capture_output=True, text=True, check=True)
    assert "--enable-libx264" in version.stdout
    assert ffmpeg_executable("/usr/local/bin/ffmpeg") == "/usr/local/bin/ffmpeg"


@pytest.mark.parametrize(
    ("line", "pair"),
    [
        ("out_time_us=1500000\n", ("out_time_us", "1500000")),
        ("progress=continue", ("progress", "continue")),
        ("stream_0_0_q=28.0", ("stream_0_0_q", "28.0")),
        ("out_time=N/A", ("out_time", "N/A")),
        ("bitrate=", ("bitrate", "")),
        ("", None),
        ("garbage", None),
        ("=orphan", None),
    ],
)
def test_progress_lines_are_split(line: str, pair: tuple[str, str] | None) -> None:
    assert split_progress_line(line) == pair


@pytest.mark.parametrize(
    ("block", "seconds"),
    [
        ({"out_time_us": "2500000", "out_time_ms": "1"}, 2.5),
        ({"out_time_ms": "4000000"}, 4.0),  # microseconds despite the name
        ({"out_time_us": "N/A", "out_time_ms": "N/A"}, None),
        ({"out_time_us": "-23000"}, 0.0),  # before the first frame
        ({"frame": "12"}, None),
    ],
)
def test_progress_position_is_read_in_seconds(block: dict[str, str], seconds: float | None) -> None:
    assert progress_position(block) == seconds


@pytest.mark.parametrize(
    ("block", "done"),
    [
        ({"frame": "50", "out_time_us": "9000000"}, 0.25),  # frames tell, when expected
        ({"frame": "250"}, 1.0),  # a frame or two more than planned
        ({"frame": "0", "out_time_us": "N/A"}, 0.0),
        ({"out_time_us": "2500000"}, 0.25),  # no frame count: the clock
        ({"out_time_us": "N/A"}, None),
    ],
)
def test_the_share_done_is_read_from_the_frames_written(
    block: dict[str, str], done: float | None
) -> None:
    assert fraction_done(block, duration=10.0, frames=200) == done


def test_without_expected_frames_the_share_done_is_read_from_the_clock() -> None:
    assert fraction_done({"frame": "50", "out_time_us": "5000000"}, duration=10.0, frames=0) == 0.5
    assert fraction_done({"out_time_us": "13000000"}, duration=10.0, frames=0) == 1.0
    assert fraction_done({"out_time_us": "1000000"}, duration=0.0, frames=0) is None


def test_error_summary_names_the_cause_not_the_unwinding() -> None:
    summary = summarise_errors(ODD_SIZE_STDERR.splitlines(), returncode=187)
    assert summary == (
        "width not divisible by 2 (161x121); Error while opening encoder - maybe incorrect "
        "parameters such as bit_rate, rate, width or height"
    )


def test_error_summary_keeps_repeated_lines_once() -> None:
    lines = ["[vp9 @ 0x1] Failed to read frame header."] * 500 + ["[vp9 @ 0x1] Bad sync."]
    assert summarise_errors(lines, returncode=1) == "Failed to read frame header; Bad sync"


def test_error_summary_is_short() -> None:
    lines = [f"[x @ 0x1] problem number {index} " + "detail " * 80 for index in range(50)]
    assert len(summarise_errors(lines, returncode=1)) <= 400


def test_error_summary_falls_back_to_the_exit_code() -> None:
    assert summarise_errors(["", "Conversion failed!"], returncode=69) == (
        "ffmpeg exited with code 69"
    )


def test_a_file_ffmpeg_cannot_open_fails_with_its_reason() -> None:
    command = quiet("-progress", "pipe:1", "-nostats", "-i", str(sample("16")), "-f", "null", "-")
    with pytest.raises(TranscodeError) as failed:
        run_ffmpeg(command, duration=1.0, on_progress=lambda *_: None, should_stop=lambda: False)
    assert str(failed.value).startswith("moov atom not found")


def test_a_flood_of_decode_errors_becomes_a_short_message() -> None:
    # File 15 makes ffmpeg print some 30 kB of complaints before it gives up.
    command = quiet("-progress", "pipe:1", "-nostats", "-i", str(sample("15")))
    command += ["-c:v", "libx264", "-f", "null", "-"]
    with pytest.raises(TranscodeError) as failed:
        run_ffmpeg(command, duration=2.0, on_progress=lambda *_: None, should_stop=lambda: False)
    assert "Invalid data found when processing input" in str(failed.value)
    assert len(str(failed.value)) <= 400


def test_a_finished_run_reports_all_of_it_done() -> None:
    reports: list[float] = []
    command = quiet("-progress", "pipe:1", "-nostats", "-f", "lavfi", "-i", "testsrc2=d=1")
    command += ["-f", "null", "-"]
    run_ffmpeg(
        command, duration=1.0, frames=25, on_progress=reports.append, should_stop=lambda: False
    )
    assert reports[-1] == 1.0
    assert all(0 <= done <= 1 for done in reports)
