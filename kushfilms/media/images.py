"""A film's pictures from images: checked with Pillow, re-encoded, brought to their shape
(a 2:3 poster, a 16:9 backdrop) and resized.

An image close to the shape (within CROP_TOLERANCE) loses a thin strip from its sides
or its top and bottom; any other is shown whole, centred over a blurred, darkened fill
of itself, so nothing of it (a face, a title) is cut off. Nothing is ever enlarged: a
picture comes in each of its shape's widths smaller than the image, and at the
image's own width when that is smaller than the widest.
"""

import io
import warnings
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image, ImageEnhance, ImageFilter, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_PIXELS = 50_000_000
CROP_TOLERANCE = Fraction(1, 10)  # of the width or height a crop may take away
# The fill is blurred at a sixteenth of the size (cheap), then stretched: soft at any size.
_FILL_SCALE = 16
_FILL_BLUR = 2
_FILL_BRIGHTNESS = 0.45
_QUALITY = 85


@dataclass(frozen=True)
class Shape:
    """What a kind of picture is made to: its width over its height, and the widths it
    is stored at (widest first)."""

    aspect: Fraction
    widths: tuple[int, ...]


POSTER = Shape(Fraction(2, 3), (780, 342))  # cards: 240 CSS px, twice that on dense screens
BACKDROP = Shape(Fraction(16, 9), (1920, 1280, 780))  # the home page's featured film


class UnusableImage(ValueError):
    """Not a JPEG, PNG or WebP image we can read."""


def read_image(data: bytes) -> Image.Image:
    """The image in ``data``, upright, in RGB; re-encoding it later drops whatever else the
    file carried (EXIF with GPS, text chunks)."""
    return _open(data).convert("RGB")


def shaped(image: Image.Image, shape: Shape) -> Image.Image:
    """``image`` at exactly the shape's aspect and at most its widest width."""
    ratio = Fraction(image.width, image.height)
    width, height = Fraction(image.width), Fraction(image.height)
    if ratio > shape.aspect:  # wider than the shape: room above and below
        height = width / shape.aspect
    else:
        width = height * shape.aspect
    scale = min(Fraction(1), shape.widths[0] / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if abs(ratio / shape.aspect - 1) <= CROP_TOLERANCE:
        return ImageOps.fit(image, _cropped(image, shape, scale), Image.Resampling.LANCZOS)
    return _over_fill(image, size)


def renditions(image: Image.Image, shape: Shape) -> dict[int, bytes]:
    """JPEGs of a shaped ``image`` at each of :func:`widths_up_to` its width."""
    files = {}
    for width in widths_up_to(shape, image.width):
        copy = image
        if width < image.width:
            height = max(1, round(width / shape.aspect))
            copy = image.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        copy.save(out, format="JPEG", quality=_QUALITY, optimize=True, progressive=True)
        files[width] = out.getvalue()
    return files


def widths_up_to(shape: Shape, widest: int) -> list[int]:
    """The widths a picture at most ``widest`` wide is stored at, narrowest first."""
    return [width for width in sorted(shape.widths) if width < widest] + [widest]


def _cropped(image: Image.Image, shape: Shape, scale: Fraction) -> tuple[int, int]:
    """The size of the shape's aspect cut from the middle of ``image``, then scaled."""
    if Fraction(image.width, image.height) > shape.aspect:
        width, height = image.height * shape.aspect, Fraction(image.height)
    else:
        width, height = Fraction(image.width), image.width / shape.aspect
    return max(1, round(width * scale)), max(1, round(height * scale))


def _over_fill(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` whole in the middle of ``size``, over a blurred, darkened fill of itself."""
    width, height = size
    small = (max(1, width // _FILL_SCALE), max(1, height // _FILL_SCALE))
    fill = ImageOps.fit(image, small, Image.Resampling.BILINEAR)
    fill = fill.filter(ImageFilter.GaussianBlur(_FILL_BLUR))
    fill = fill.resize(size, Image.Resampling.BICUBIC)
    fill = ImageEnhance.Brightness(fill).enhance(_FILL_BRIGHTNESS)
    front = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
    fill.paste(front, ((width - front.width) // 2, (height - front.height) // 2))
    return fill


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            checked = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, Image.DecompressionBombWarning, OSError) as error:
            raise UnusableImage("The file is not a readable JPEG, PNG or WebP image.") from error
        if checked.format not in ACCEPTED_FORMATS:
            raise UnusableImage(
                f"{checked.format} images are not accepted; send a JPEG, PNG or WebP image."
            )
        if checked.width * checked.height > MAX_PIXELS:
            raise UnusableImage("The image has too many pixels.")
        try:
            checked.verify()  # the structure; verify() leaves the image unusable
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
            raise UnusableImage("The image is damaged and cannot be read.") from error
    # Phones store the orientation apart from the pixels.
    return ImageOps.exif_transpose(image)
