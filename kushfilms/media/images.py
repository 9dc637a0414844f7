"""Posters from uploaded images: checked with Pillow, re-encoded, resized."""

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
POSTER_WIDTHS = (780, 342)
MAX_PIXELS = 50_000_000


class UnusableImage(ValueError):
    """Not a JPEG, PNG or WebP image we can read."""


def poster_renditions(data: bytes) -> dict[int, bytes]:
    """JPEG posters at each of POSTER_WIDTHS (never wider than the original)."""
    # Re-encoding from decoded pixels drops whatever else the file carried
    # (EXIF with GPS, text chunks).
    image = _open(data).convert("RGB")
    renditions = {}
    for width in POSTER_WIDTHS:
        copy = image.copy()
        if copy.width > width:
            height = max(1, round(copy.height * width / copy.width))
            copy = copy.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        copy.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
        renditions[width] = out.getvalue()
    return renditions


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
