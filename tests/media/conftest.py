"""Object storage for the media tests: moto's real S3 API on loopback."""

import socket
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

S3_BUCKET = "kushfilms-test"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback (a real S3 API over HTTP), with a bucket made."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=S3_BUCKET)
    yield endpoint
    server.stop()
