from fractions import Fraction
from pathlib import Path

import pytest

from kushfilms.config import DEFAULT_LADDER_BITRATES
from kushfilms.media.ingest.probe import SourceInfo
from kushfilms.media.transcoding.ladder import (
    PosterSpec,
    Rung,
    SpriteSpec,
    frame_size,
    h264_level,
    ladder_command,
    output_dirs,
    picture_filters,
    plan_ladder,
    sprite_spec_for,
    target_frame_rate,
    thumbnail_size,
)

FFMPEG = "/opt/ffmpeg"
SOURCE = Path("/films/source.mov")
OUT = Path("/work/out")
POSTER = PosterSpec(times=(6.0, 15.0, 24.0, 36.0), width=1280, height=720)


def source(
    width: int = 1920,
    height: int = 1080,
    *,
    sar: Fraction = Fraction(1),
    rotation: int = 0,
    fps: float = 30.0,
    vfr: bool = False,
    hdr: bool = False,
    interlaced: bool = False,
    audio_streams: int = 1,
    duration: float = 60.0,
) -> SourceInfo:
    display = (round(width * sar), height)
    display_width, display_height = display[::-1] if rotation in (90, 270) else display
    return SourceInfo(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        size_bytes=1_000_000,
        duration=duration,
        video_codec="hevc" if hdr else "h264",
        width=width,
        height=height,
        sample_aspect_ratio=sar,
        display_width=display_width,
        display_height=display_height,
        rotation=rotation,
        frame_rate=fps,
        variable_frame_rate=vfr,
        pix_fmt="yuv420p10le" if hdr else "yuv420p",
        bit_depth=10 if hdr else 8,
        color_range="tv",
        color_transfer="smpte2084" if hdr else "bt709",
        color_primaries="bt2020" if hdr else "bt709",
        color_space="bt2020nc" if hdr else "bt709",
        hdr=hdr,
        interlaced=interlaced,
        audio_codec="aac" if audio_streams else None,
        audio_channels=2 if audio_streams else 0,
        audio_streams=audio_streams,
    )


def sizes(rungs: list[Rung]) -> dict[str, tuple[int, int]]:
    return {rung.name: (rung.width, rung.height) for rung in rungs}


def ladder(info: SourceInfo) -> list[Rung]:
    return plan_ladder(info, DEFAULT_LADDER_BITRATES)


# plan_ladder: which rungs


def test_a_1080p_film_gets_every_rung_up_to_its_own() -> None:
    assert sizes(ladder(source(1920, 1080))) == {
        "360p": (640, 360),
        "480p": (854, 480),
        "720p": (1280, 720),
        "1080p": (1920, 1080),
    }


@pytest.mark.parametrize(
    ("width", "height", "names"),
    [
        (1280, 720, ["360p", "480p", "720p"]),
        (1920, 1080, ["360p", "480p", "720p", "1080p"]),
        (3840, 2160, ["360p", "480p", "720p", "1080p", "2160p"]),
        (7680, 4320, ["360p", "480p", "720p", "1080p", "2160p"]),
        (1920, 1079, ["360p", "480p", "720p"]),
        (640, 360, ["360p"]),
        (1080, 720, ["360p", "480p", "720p"]),
    ],
)
def test_rungs_are_never_upscaled(width: int, height: int, names: list[str]) -> None:
    rungs = ladder(source(width, height))
    assert [rung.name for rung in rungs] == names
    assert all(min(rung.width, rung.height) <= height for rung in rungs)


def test_a_portrait_phone_video_is_laddered_by_its_short_side() -> None:
    # Stored 1920x1080 and turned upright: shown 1080x1920.
    rungs = ladder(source(1920, 1080, rotation=90))
    assert sizes(rungs)["1080p"] == (1080, 1920)
    assert sizes(rungs)["360p"] == (360, 640)
    assert all(rung.height > rung.width for rung in rungs)


@pytest.mark.parametrize(
    ("width", "height", "rotation", "expected"),
    [
        (161, 121, 0, {"120p": (160, 120)}),
        (426, 240, 0, {"240p": (426, 240)}),
        (240, 426, 0, {"240p": (240, 426)}),
        (320, 180, 90, {"180p": (180, 320)}),
        (3, 3, 0, {"2p": (2, 2)}),
    ],
)
def test_a_source_smaller_than_every_rung_gets_one_at_its_own_size(
    width: int, height: int, rotation: int, expected: dict[str, tuple[int, int]]
) -> None:
    assert sizes(ladder(source(width, height, rotation=rotation))) == expected


def test_anamorphic_pixels_are_squared_to_the_display_aspect() -> None:
    # File 11: 800x640 stored, SAR 64:45, shown 16:9.
    assert sizes(ladder(source(800, 640, sar=Fraction(64, 45)))) == {
        "360p": (640, 360),
        "480p": (854, 480),
    }
    # File 12: NTSC DV, 720x480 at SAR 8:9, shown 4:3.
    assert sizes(ladder(source(720, 480, sar=Fraction(8, 9)))) == {
        "360p": (480, 360),
        "480p": (640, 480),
    }


@pytest.mark.parametrize("width", [161, 427, 853, 1000, 1366, 1998, 2048, 2560, 4096])
@pytest.mark.parametrize("height", [121, 240, 481, 537, 720, 858, 1080, 1607, 2160])
@pytest.mark.parametrize("rotation", [0, 90])
def test_every_rung_has_even_sides_and_the_source_shape(
    width: int, height: int, rotation: int
) -> None:
    info = source(width, height, rotation=rotation)
    for rung in ladder(info):
        assert rung.width % 2 == 0
        assert rung.height % 2 == 0
        # Within the 1 px that rounding to even costs on the long side.
        long, short = max(rung.width, rung.height), min(rung.width, rung.height)
        exact_long = short * max(info.display_aspect, 1 / info.display_aspect)
        assert abs(long - exact_long) <= 1
        assert (rung.height > rung.width) == (info.display_height > info.display_width)


def test_frame_size_follows_display_orientation() -> None:
    assert frame_size(source(1920, 1080), 720) == (1280, 720)
    assert frame_size(source(1920, 1080, rotation=270), 720) == (720, 1280)


# plan_ladder: bitrates


def test_configured_bitrates_apply_to_16_9_rungs() -> None:
    rungs = ladder(source(3840, 2160))
    assert {rung.name: rung.video_kbps for rung in rungs} == {
        "360p": 800,
        "480p": 1400,
        "720p": 2800,
        "1080p": 5000,
        "2160p": 14000,
    }


def test_other_shapes_get_the_same_bits_per_pixel() -> None:
    four_by_three = {rung.name: rung.video_kbps for rung in ladder(source(1440, 1080))}
    assert four_by_three["1080p"] == 3750  # 1440x1080 is 3/4 of 1920x1080
    tiny = ladder(source(426, 240))[0]
    assert tiny.video_kbps == round(800 * 426 * 240 / (640 * 360))


def test_rungs_follow_the_configured_ladder() -> None:
    rungs = plan_ladder(source(1920, 1080), {480: 1000, 1080: 4500})
    assert [(rung.name, rung.video_kbps) for rung in rungs] == [("480p", 1000), ("1080p", 4500)]


def test_peaks_and_buffers_are_capped_above_the_average() -> None:
    for rung in ladder(source(3840, 2160)):
        assert rung.video_kbps < rung.max_kbps <= 2 * rung.video_kbps
        assert rung.buffer_kbits == 2 * rung.video_kbps
        assert rung.profile == "high"


# Frame rates


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (30000 / 1001, 30000 / 1001),
        (24000 / 1001, 24000 / 1001),
        (25, 25),
        (50, 50),
        (60, 60),
        (60000 / 1001, 60000 / 1001),
        (60.06, 60),  # 03: millisecond timestamps blur 60 into 60.06
        (2997 / 100, 30000 / 1001),
        (15000 / 1001, 15000 / 1001),  # 08: CFR at an unusual rate stays
        (12.5, 12.5),
        (120, 60),
        (119.88, 60000 / 1001),
        (100, 50),
        (240, 60),
        (300, 37.5),
    ],
)
def test_constant_rates_are_kept_and_halved_above_60(fps: float, expected: float) -> None:
    assert target_frame_rate(source(fps=fps)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("average", "expected"),
    [
        (28.03, 30000 / 1001),  # 02: an iPhone dropping frames at 29.97
        (10.505, 24000 / 1001),  # 04: a phone in low light, 80-100 ms frames
        (29.99, 30),  # 13
        (47.5, 50),
        (55, 60000 / 1001),
        (144, 60),
    ],
)
def test_variable_rates_become_the_nearest_standard_rate(average: float, expected: float) -> None:
    assert target_frame_rate(source(fps=average, vfr=True)) == pytest.approx(expected)


def test_every_rung_shares_the_target_rate() -> None:
    rungs = ladder(source(3840, 2160, fps=119.88))
    assert {rung.fps for rung in rungs} == {60000 / 1001}


# H.264 levels


@pytest.mark.parametrize(
    ("width", "height", "fps", "level"),
    [
        (640, 360, 30, "3.0"),
        (854, 480, 30, "3.1"),
        (1280, 720, 30, "3.1"),
        (1280, 720, 60, "3.2"),
        (1920, 1080, 30, "4.0"),
        (1920, 1080, 50, "4.2"),
        (1920, 1080, 60, "4.2"),
        (3840, 2160, 30, "5.1"),
        (3840, 2160, 60, "5.2"),
        (2160, 3840, 60, "5.2"),
        (160, 120, 30, "3.0"),
    ],
)
def test_level_fits_the_picture_and_rate(width: int, height: int, fps: float, level: str) -> None:
    assert h264_level(width, height, fps, max_kbps=1000, buffer_kbits=1000) == level


def test_level_rises_for_a_bitrate_the_lower_one_cannot_carry() -> None:
    assert h264_level(1920, 1080, 30, max_kbps=24_000, buffer_kbits=30_000) == "4.0"
    assert h264_level(1920, 1080, 30, max_kbps=40_000, buffer_kbits=40_000) == "4.1"


def test_a_picture_too_narrow_for_its_area_needs_a_higher_level() -> None:
    # 5120x128 fits level 3.1's area but not the square root bound on each side.
    assert h264_level(5120, 128, 30, max_kbps=1000, buffer_kbits=1000) == "5.0"


def test_no_level_carries_16k() -> None:
    with pytest.raises(ValueError, match=r"no H\.264 level"):
        h264_level(15360, 8640, 60, max_kbps=1000, buffer_kbits=1000)


def test_ladder_levels_match_each_rung() -> None:
    levels = {rung.name: rung.level for rung in ladder(source(3840, 2160, fps=60))}
    assert levels == {"360p": "3.1", "480p": "3.1", "720p": "3.2", "1080p": "4.2", "2160p": "5.2"}


# Sprites


@pytest.mark.parametrize(
    ("duration", "interval"),
    [(0.2, 2), (60, 2), (800, 2), (801, 3), (2 * 3600, 18), (3 * 3600 + 7, 28)],
)
def test_sprites_come_every_2_s_but_never_more_than_400(duration: float, interval: int) -> None:
    spec = sprite_spec_for(duration)
    assert spec.interval == interval
    assert duration / spec.interval <= 400
    assert (spec.width, spec.columns, spec.rows) == (160, 10, 10)


def test_thumbnails_keep_the_display_shape() -> None:
    spec = SpriteSpec(interval=2)
    assert thumbnail_size(spec, source(1920, 1080)) == (160, 90)
    assert thumbnail_size(spec, source(1920, 1080, rotation=90)) == (160, 284)
    assert thumbnail_size(spec, source(720, 480, sar=Fraction(8, 9))) == (160, 120)


# The command


def command(info: SourceInfo, *, preset: str = "veryfast") -> list[str]:
    rungs = ladder(info)
    return ladder_command(
        FFMPEG,
        SOURCE,
        OUT,
        info,
        rungs,
        sprite=SpriteSpec(interval=2),
        poster=POSTER,
        preset=preset,
    )


def graph(arguments: list[str]) -> str:
    return arguments[arguments.index("-filter_complex") + 1]


def outputs(arguments: list[str]) -> list[list[str]]:
    """The options of each output, each list ending with the output's path."""
    groups: list[list[str]] = [[]]
    previous = ""
    for argument in arguments[arguments.index("-filter_complex") + 2 :]:
        groups[-1].append(argument)
        if argument.startswith(str(OUT)) and previous != "-hls_segment_filename":
            groups.append([])
        previous = argument
    assert groups.pop() == []
    return groups


def hls_outputs(arguments: list[str]) -> list[list[str]]:
    """The rungs' outputs, without the sprites' and the poster's."""
    return [group for group in outputs(arguments) if option(group, "-f") == "hls"]


def option(group: list[str], name: str) -> str:
    return group[group.index(name) + 1]


def test_the_source_is_read_and_decoded_once() -> None:
    arguments = command(source())
    assert arguments[0] == FFMPEG
    assert arguments.count("-i") == 1
    assert option(arguments, "-i") == str(SOURCE)
    assert graph(arguments).count("[0:v:0]") == 1
    assert "-var_stream_map" not in arguments


def test_the_graph_splits_into_every_rung_the_sprites_and_the_poster() -> None:
    arguments = command(source(3840, 2160))
    chains = graph(arguments).split(";")
    assert len(chains) == 8
    assert "split=7[p0][p1][p2][p3][p4][p5][p6]" in chains[0]
    assert chains[1] == "[p0]scale=640:360:out_range=tv,setsar=1,format=yuv420p[v0]"
    assert chains[5] == "[p4]scale=3840:2160:out_range=tv,setsar=1,format=yuv420p[v4]"
    assert chains[6].startswith("[p5]select=")
    assert chains[6].endswith(",scale=160:90:out_range=pc,setsar=1[thumbs]")
    assert chains[7].startswith("[p6]select=")
    assert chains[7].endswith(",scale=1280:720:out_range=pc,setsar=1[poster]")
    assert "tile=" not in graph(arguments)  # see test_progress_is_reported_from_the_start


def test_each_rung_is_an_hls_output_of_its_own() -> None:
    arguments = command(source(1920, 1080))
    groups = outputs(arguments)
    assert len(groups) == 6
    for index, (group, name) in enumerate(
        zip(groups, ["360p", "480p", "720p", "1080p"], strict=False)
    ):
        assert group[-1] == str(OUT / name / "index.m3u8")
        assert option(group, "-map") == f"[v{index}]"
        assert option(group, "-f") == "hls"
        assert option(group, "-hls_time") == "4"
        assert option(group, "-hls_playlist_type") == "vod"
        assert option(group, "-hls_segment_type") == "fmp4"
        assert option(group, "-hls_flags") == "independent_segments"
        assert option(group, "-hls_fmp4_init_filename") == "init.mp4"
        assert option(group, "-hls_segment_filename") == str(OUT / name / "seg_%05d.m4s")
    assert groups[-2][-1] == str(OUT / "stills" / "thumb_%05d.jpg")
    assert option(groups[-2], "-map") == "[thumbs]"
    assert groups[-1][-1] == str(OUT / "stills" / "poster_%02d.jpg")
    assert option(groups[-1], "-map") == "[poster]"


def test_video_is_h264_high_at_each_rungs_rate_and_level() -> None:
    info = source(1920, 1080, fps=60)
    for group, rung in zip(hls_outputs(command(info)), ladder(info), strict=True):
        assert option(group, "-c:v") == "libx264"
        assert option(group, "-profile:v") == "high"
        assert option(group, "-level:v") == rung.level
        assert option(group, "-pix_fmt") == "yuv420p"
        assert option(group, "-b:v") == f"{rung.video_kbps}k"
        assert option(group, "-maxrate:v") == f"{rung.max_kbps}k"
        assert option(group, "-bufsize:v") == f"{rung.buffer_kbits}k"
        assert option(group, "-preset:v") == "veryfast"


def test_the_preset_can_be_chosen() -> None:
    groups = hls_outputs(command(source(), preset="ultrafast"))
    assert {option(group, "-preset:v") for group in groups} == {"ultrafast"}


@pytest.mark.parametrize(("fps", "gop"), [(30000 / 1001, 60), (24, 48), (25, 50), (60, 120)])
def test_closed_gops_of_two_seconds_line_up_across_rungs(fps: float, gop: int) -> None:
    for group in hls_outputs(command(source(fps=fps))):
        assert option(group, "-g:v") == str(gop)
        assert option(group, "-keyint_min:v") == str(gop)
        assert option(group, "-x264-params:v") == "scenecut=0:open-gop=0"
        assert option(group, "-force_key_frames:v") == "expr:gte(t,n_forced*2)"


def test_segment_and_gop_lengths_are_parameters() -> None:
    info = source(fps=25)
    rungs = ladder(info)
    arguments = ladder_command(
        FFMPEG,
        SOURCE,
        OUT,
        info,
        rungs,
        sprite=SpriteSpec(2),
        poster=POSTER,
        segment_seconds=6,
        gop_seconds=3,
    )
    first = outputs(arguments)[0]
    assert (option(first, "-hls_time"), option(first, "-g:v")) == ("6", "75")
    assert option(first, "-force_key_frames:v") == "expr:gte(t,n_forced*3)"


def test_audio_is_stereo_aac_in_every_rung() -> None:
    for group in hls_outputs(command(source(audio_streams=2))):
        assert group.count("-map") == 2
        assert group[group.index("-map", group.index("-map") + 1) + 1] == "0:a:0"
        assert option(group, "-c:a") == "aac"
        assert option(group, "-profile:a") == "aac_low"
        assert (option(group, "-ac"), option(group, "-ar"), option(group, "-b:a")) == (
            "2",
            "48000",
            "128k",
        )


def test_a_silent_source_gets_video_only_rungs() -> None:
    arguments = command(source(audio_streams=0))
    assert "0:a:0" not in arguments
    assert "-c:a" not in arguments


def test_no_metadata_is_carried_into_any_output() -> None:
    for group in outputs(command(source())):
        assert option(group, "-map_metadata") == "-1"
        assert option(group, "-map_chapters") == "-1"


def test_progress_goes_to_stdout_and_stderr_stays_quiet() -> None:
    arguments = command(source())
    assert option(arguments, "-progress") == "pipe:1"
    assert "-nostats" in arguments
    assert "-nostdin" in arguments
    assert option(arguments, "-loglevel") == "error"
    assert "-noautorotate" not in arguments  # ffmpeg turns phone video upright


def test_frames_are_made_constant_rate_at_the_rung_rate() -> None:
    assert "fps=30000/1001," in graph(command(source(fps=29.97, vfr=True)))
    assert "fps=60," in graph(command(source(fps=120)))


def test_only_hdr_sources_are_tone_mapped() -> None:
    assert "tonemap=hable" in graph(command(source(hdr=True)))
    assert "zscale" not in graph(command(source()))


def test_only_interlaced_sources_are_deinterlaced() -> None:
    assert "bwdif=" in graph(command(source(interlaced=True)))
    assert "bwdif" not in graph(command(source()))


def test_picture_filters_run_in_order() -> None:
    filters = picture_filters(source(hdr=True, interlaced=True), fps=25.0)
    assert filters[0] == "sidedata=mode=delete"  # no HDR mastering data on SDR output
    assert filters[1].startswith("bwdif=")  # fields are woven before frames are dropped
    assert filters[2] == "fps=25"
    assert filters[3:] == [
        "zscale=t=linear:npl=100",
        "format=gbrpf32le",
        "zscale=p=bt709",
        "tonemap=hable:desat=0",
        "zscale=t=bt709:m=bt709:r=tv",
        "format=yuv420p",
    ]


def test_sprite_thumbnails_are_the_first_frame_of_each_interval() -> None:
    sprites = graph(command(source())).split(";")[-2]
    expression = "isnan(prev_selected_t)+gt(floor(t/2)\\,floor(prev_selected_t/2))"
    assert sprites.startswith(f"[p4]select={expression},")


def test_output_dirs_hold_every_rung_the_sprites_and_the_stills() -> None:
    rungs = ladder(source(1280, 720))
    assert output_dirs(OUT, rungs) == [
        OUT / "360p",
        OUT / "480p",
        OUT / "720p",
        OUT / "thumbs",
        OUT / "stills",
    ]


def test_progress_is_reported_from_the_start() -> None:
    # ffmpeg reports no progress until every output has written its first frame, so
    # each output gets one from the film's first frame on: every rung, the first
    # thumbnail, and the first poster candidate (the last resort).
    thumbs, poster = graph(command(source())).split(";")[-2:]
    assert thumbs.startswith("[p4]select=isnan(prev_selected_t)+")
    assert poster.startswith("[p5]select=isnan(prev_t)+")


# Stills: scrub thumbnails and poster candidates


def test_poster_candidates_are_the_first_frame_and_the_first_at_each_time() -> None:
    info = source(1920, 1080, hdr=True)
    rungs = ladder(info)
    poster = PosterSpec(times=(6.0, 15.25), width=1280, height=720)
    arguments = ladder_command(
        FFMPEG, SOURCE, OUT, info, rungs, sprite=SpriteSpec(2), poster=poster
    )
    chain = graph(arguments).split(";")[-1]
    assert chain == (
        "[p5]select=isnan(prev_t)"
        "+gte(t\\,6.000)*(isnan(prev_t)+lt(prev_t\\,6.000))"
        "+gte(t\\,15.250)*(isnan(prev_t)+lt(prev_t\\,15.250)),"
        "scale=1280:720:out_range=pc,setsar=1[poster]"
    )
    # After the shared filters: the candidates are tone-mapped and constant-rate too.
    assert "tonemap=hable" in graph(arguments).split(";")[0]


def test_stills_are_written_once_each_as_plain_jpegs() -> None:
    for group in outputs(command(source()))[-2:]:
        assert option(group, "-fps_mode:v") == "passthrough"
        assert option(group, "-c:v") == "mjpeg"
        assert option(group, "-flags:v") == "+bitexact"
        assert option(group, "-f") == "image2"
        assert option(group, "-start_number") == "0"
