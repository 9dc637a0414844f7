"""The tus 1.0 protocol's headers and refusals: its version, Upload-Checksum and
Upload-Metadata (https://tus.io/protocols/resumable-upload)."""

import base64
import binascii
from dataclasses import dataclass

from kushfilms.errors import BadRequest, KushError

TUS_VERSION = "1.0.0"
_DIGEST_SIZES = {"sha1": 20, "sha256": 32}
CHECKSUM_ALGORITHMS = tuple(_DIGEST_SIZES)


class ChecksumMismatch(KushError):
    status = 460
    code = "checksum_mismatch"
    message = "The chunk does not match its Upload-Checksum; it was discarded. Send it again."


class InvalidUploadHeader(BadRequest):
    code = "invalid_upload_header"


class TusVersionUnsupported(KushError):
    status = 412
    code = "tus_version_unsupported"
    message = f"Send Tus-Resumable: {TUS_VERSION}, the only tus version this server speaks."

    def __init__(self) -> None:
        super().__init__(headers={"Tus-Version": TUS_VERSION})


class NotAnOffsetStream(KushError):
    status = 415
    code = "unsupported_media_type"
    message = "Send upload bytes as Content-Type: application/offset+octet-stream."


@dataclass(frozen=True, slots=True)
class Checksum:
    """An Upload-Checksum header: the digest a chunk must have."""

    algorithm: str
    digest: bytes


def parse_checksum(header: str) -> Checksum:
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in _DIGEST_SIZES:
        raise InvalidUploadHeader(
            f"Checksum algorithm {algorithm!r} is not supported; use one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}."
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != _DIGEST_SIZES[algorithm]:
        raise InvalidUploadHeader(f"Upload-Checksum must be '{algorithm} <base64 digest>'.")
    return Checksum(algorithm, digest)


def parse_metadata(header: str) -> dict[str, str]:
    """Read an Upload-Metadata header: ``key base64value`` pairs, values optional."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, *values = pair.split(" ")
        if len(values) > 1 or key in metadata:
            raise InvalidUploadHeader(f"Upload-Metadata has a malformed or repeated key {key!r}.")
        try:
            metadata[key] = base64.b64decode(values[0], validate=True).decode() if values else ""
        except (binascii.Error, UnicodeDecodeError) as error:
            raise InvalidUploadHeader(
                f"Upload-Metadata value of {key!r} is not base64-encoded UTF-8 text."
            ) from error
    return metadata


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )
