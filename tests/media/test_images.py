import io

import pytest
from PIL import Image

from kushfilms.media.images import UnusableImage, poster_renditions


def image_bytes(format: str, size: tuple[int, int] = (1200, 1800), **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=format, **save)
    return out.getvalue()


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP"])
def test_posters_are_reencoded_jpegs_at_poster_widths(format: str) -> None:
    renditions = poster_renditions(image_bytes(format))

    assert sorted(renditions) == [342, 780]
    for width, data in renditions.items():
        poster = Image.open(io.BytesIO(data))
        assert poster.format == "JPEG"
        assert poster.size == (width, width * 3 // 2)


def test_small_images_are_not_enlarged() -> None:
    renditions = poster_renditions(image_bytes("PNG", (300, 450)))

    assert Image.open(io.BytesIO(renditions[780])).size == (300, 450)


def test_metadata_is_dropped_and_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    exif[0x8825] = {1: "N"}  # GPS info
    renditions = poster_renditions(image_bytes("JPEG", (800, 400), exif=exif.tobytes()))

    poster = Image.open(io.BytesIO(renditions[780]))
    assert poster.size == (400, 800)
    assert not poster.getexif()


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
        poster_renditions(data)
