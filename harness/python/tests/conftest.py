"""Shared fixtures: the `last` binary and a `last serve` process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def find_last() -> Path:
    """`$LAST_BIN` (an error if set and missing), else the workspace's
    release or debug build."""
    env = os.environ.get("LAST_BIN")
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"LAST_BIN={env} does not exist")
        return p
    for p in (ROOT / "target/release/last", ROOT / "target/debug/last"):
        if p.is_file():
            return p
    pytest.skip("no last binary: build it (cargo build --release) or set LAST_BIN")


@pytest.fixture(scope="session")
def last_bin() -> Path:
    return find_last()


class Server:
    """A running `last serve` on an ephemeral loopback port."""

    def __init__(self, url: str):
        self.url = url

    def rank(self, body, content_type: str = "application/json") -> dict:
        """POSTs a body (a dict is sent as JSON) to /rank; the decoded answer."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.url + "/rank", data=data, headers={"content-type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"HTTP {e.code}: {e.read().decode()}") from None


@contextlib.contextmanager
def serving(last_bin: Path, model: Path):
    """Starts `last serve --model MODEL` on 127.0.0.1:0 and stops it after."""
    p = subprocess.Popen(
        [str(last_bin), "serve", "--model", str(model), "--addr", "127.0.0.1:0", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = p.stdout.readline()
        m = re.search(r"listening on (http://[0-9.]+:[0-9]+)", line)
        if not m:
            p.kill()
            raise AssertionError(f"last serve did not start: {line!r} {p.stderr.read()}")
        yield Server(m.group(1))
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
