"""An S3-compatible server for the object-storage tests: moto's server mode on loopback.

MinIO's server is not on the package registries this project installs from, so the tests start
`python -m moto.server` (moto[server], a dev extra), a real HTTP server speaking the S3 API,
including conditional PUTs (`If-None-Match: *`, `If-Match`). One server per session; every test
gets a fresh bucket and the AWS_* variables pointing at it (monkeypatched).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

_START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A moto S3 server on a free loopback port: (process, endpoint URL)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    give_up = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > give_up:
                proc.kill()
                raise RuntimeError(f"moto server did not start on port {port}") from None
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    proc, endpoint = start_moto()
    try:
        yield endpoint
    finally:
        stop(proc)


@dataclass(frozen=True)
class Bucket:
    """A fresh bucket on the test server, with the environment set to reach it."""

    name: str
    endpoint: str

    def url(self, prefix: str = "runs/out.zarr") -> str:
        return f"s3://{self.name}/{prefix}"

    def keys(self) -> list[str]:
        """Every object key in the bucket."""
        import boto3

        client = boto3.client("s3")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def s3_env(endpoint: str, key: str = "testing", secret: str = "testing") -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
            # leases short enough that a killed writer's group is taken over in seconds
            "TRACKANNOT_LEASE_S": "2", "TRACKANNOT_LEASE_SKEW_S": "0.5"}


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in s3_env(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return Bucket(name, moto_endpoint)


@pytest.fixture(scope="session")
def auth_server() -> Iterator[tuple[str, dict[str, str]]]:
    """A second moto server that checks credentials (IAM): (endpoint, a valid key's env)."""
    import boto3

    proc, endpoint = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        kw = {"endpoint_url": endpoint, "region_name": "us-east-1",
              "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", **kw)
        iam.create_user(UserName="runner")
        key = iam.create_access_key(UserName="runner")["AccessKey"]
        iam.put_user_policy(UserName="runner", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        good = s3_env(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        yield endpoint, good
    finally:
        stop(proc)
