import io

import pytest
from PIL import Image, ImageDraw, ImageStat

from kushfilms.media.images import (
    BACKDROP,
    POSTER,
    UnusableImage,
    read_image,
    renditions,
    shaped,
    widths_up_to,
)

RED = (200, 30, 30)


def image_bytes(format: str, size: tuple[int, int] = (1200, 1800), **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, RED).save(out, format=format, **save)
    return out.getvalue()


def poster_files(data: bytes) -> dict[int, bytes]:
    return renditions(shaped(read_image(data), POSTER), POSTER)


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP"])
def test_posters_are_reencoded_jpegs_at_poster_widths(format: str) -> None:
    files = poster_files(image_bytes(format))

    assert sorted(files) == [342, 780]
    for width, data in files.items():
        poster = opened(data)
        assert poster.format == "JPEG"
        assert poster.size == (width, width * 3 // 2)


def test_small_images_are_not_enlarged() -> None:
    files = poster_files(image_bytes("PNG", (300, 450)))

    assert sorted(files) == [300]
    assert opened(files[300]).size == (300, 450)


def test_an_image_is_stored_at_its_own_width_and_the_standard_ones_below() -> None:
    assert widths_up_to(BACKDROP, 1000) == [780, 1000]
    assert widths_up_to(BACKDROP, 1920) == [780, 1280, 1920]
    assert widths_up_to(POSTER, 200) == [200]
    backdrop = shaped(read_image(image_bytes("PNG", (1024, 576))), BACKDROP)

    files = renditions(backdrop, BACKDROP)

    assert {width: opened(data).size for width, data in files.items()} == {
        780: (780, 439),
        1024: (1024, 576),
    }


def test_metadata_is_dropped_and_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    exif[0x8825] = {1: "N"}  # GPS info
    upright = read_image(image_bytes("JPEG", (800, 1200), exif=exif.tobytes()))

    assert upright.size == (1200, 800)
    poster = opened(renditions(shaped(upright, POSTER), POSTER)[780])
    assert not poster.getexif()


def test_an_image_near_the_shape_loses_a_thin_strip() -> None:
    # A one-sheet (27 x 40 in) is a little wider than 2:3: its sides are trimmed.
    poster = shaped(Image.new("RGB", (675, 1000), RED), POSTER)

    assert poster.size == (667, 1000)
    assert ImageStat.Stat(poster).mean == pytest.approx(list(RED), abs=1)


def test_a_portrait_poster_makes_a_backdrop_with_the_whole_poster_in_the_middle() -> None:
    poster = Image.new("RGB", (600, 900), RED)
    ImageDraw.Draw(poster).rectangle((0, 800, 599, 899), fill=(240, 220, 40))  # its title

    backdrop = shaped(poster, BACKDROP)

    assert backdrop.size == (1600, 900)  # 16:9, as tall as the poster: nothing enlarged
    middle = backdrop.crop((500, 0, 1100, 900))
    assert ImageStat.Stat(middle.crop((0, 0, 600, 780))).mean == pytest.approx(list(RED), abs=2)
    assert ImageStat.Stat(middle.crop((0, 810, 600, 900))).mean[1] > 200  # the title, whole
    sides = [backdrop.crop((0, 0, 480, 900)), backdrop.crop((1120, 0, 1600, 900))]
    for side in sides:  # the fill: the poster's colours, darkened
        red, green, _ = ImageStat.Stat(side).mean
        assert 40 < red < 150
        assert red > green


def test_a_landscape_backdrop_makes_a_poster_with_the_whole_picture_in_the_middle() -> None:
    backdrop = Image.new("RGB", (1280, 720), RED)

    poster = shaped(backdrop, POSTER)

    assert poster.size == (780, 1170)
    band = poster.crop((0, 366, 780, 804))  # the picture, 780 x 439, in the middle
    assert ImageStat.Stat(band).mean == pytest.approx(list(RED), abs=3)
    assert ImageStat.Stat(poster.crop((0, 0, 780, 300))).mean[0] < 150  # the darker fill


def test_a_small_backdrop_makes_a_poster_no_wider_than_itself() -> None:
    assert shaped(Image.new("RGB", (480, 270), RED), POSTER).size == (480, 720)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7 not an image", "not a readable"),
        (image_bytes("GIF", (10, 10)), "GIF images are not accepted"),
        (image_bytes("PNG")[:200], "damaged"),
    ],
)
def test_anything_else_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(UnusableImage, match=reason):
        read_image(data)
