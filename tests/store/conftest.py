"""Fixtures of the store tests: a real S3-compatible HTTP server for issue 16.

moto's standalone server runs as its own process on 127.0.0.1 (a free port) for the whole
session; the tests reach it through the real s3fs client, with ``endpoint_url`` in
``storage_options``, exactly as a user would reach MinIO or S3. The bucket is created here
(jlcache never creates buckets); each test gets its own prefix in it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.store._s3 import BUCKET, S3Server, create_bucket, free_port, start_moto, stop


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server in its own process, with the test bucket created."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    port = free_port()
    proc = start_moto(port)
    try:
        server = S3Server(f"http://127.0.0.1:{port}")
        create_bucket(server.endpoint, BUCKET)
        yield server
    finally:
        stop(proc)


@pytest.fixture
def s3_url(s3_server: S3Server) -> str:
    """A fresh prefix (a new, empty cache) in the test bucket."""
    return s3_server.url()
