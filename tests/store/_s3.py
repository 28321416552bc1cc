"""The S3-compatible test server (moto, its own process) and how tests reach it.

moto's standalone server runs as its own process on 127.0.0.1 (a free port) for the whole
session; the tests reach it through the real s3fs client, with ``endpoint_url`` in
``storage_options``, exactly as a user would reach MinIO or S3. One bucket is created here
(jlcache never creates buckets); each test gets its own prefix in it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

BUCKET = "jlcache-test"
KEY = "AKIAJLCACHETESTKEY01"
SECRET = "jlcache-test-secret-" + "9f3c1e7a5b"  # searched for in everything stored


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str

    def options(self, **extra: Any) -> dict[str, Any]:
        """``storage_options`` for s3fs against this server (fresh dicts: callers may edit)."""
        return {"key": KEY, "secret": SECRET,
                "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
                **extra}

    def url(self) -> str:
        return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.options())


def _wait_until_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on port {port} within {timeout} s")


# moto's threaded server (moto_server's command line serves ranged GETs wrongly)
_SERVE = """
import sys, threading
from moto.server import ThreadedMotoServer
ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False).start()
threading.Event().wait()
"""


def start_moto(port: int, **settings: str) -> subprocess.Popen:
    """moto's standalone S3 server on 127.0.0.1:``port``, listening when this returns;
    ``settings`` are moto's environment settings (``INITIAL_NO_AUTH_ACTION_COUNT="1"``:
    after one request, every request's credentials are checked against moto's IAM)."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, **settings}
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_listening(port, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY,
                 aws_secret_access_key=SECRET, region_name="us-east-1").create_bucket(Bucket=bucket)
