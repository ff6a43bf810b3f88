"""Pytest fixtures that run the real zego-mock binary on a loopback port.

The binary is taken from $ZEGO_PUSH_BIN_DIR, else from $CARGO_TARGET_DIR/debug,
else from <repo>/target/debug. Build it first with `cargo build --workspace --bins`.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

MOCK_APP_ID = "1234567890"
MOCK_SECRET = "0123456789abcdef0123456789abcdef"

LISTENING_PREFIX = "zego-mock listening on "
STARTUP_TIMEOUT_SECONDS = 30.0
CONTROL_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0

# The control helpers ignore the proxy environment variables (HTTP_PROXY and
# the like), so their requests go straight to the mock on loopback.
_LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def bin_dir() -> Path:
    """Return the folder that contains the workspace's debug binaries."""
    explicit = os.environ.get("ZEGO_PUSH_BIN_DIR")
    if explicit:
        return Path(explicit)
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    if target_dir:
        return Path(target_dir).resolve() / "debug"
    return REPO_ROOT / "target" / "debug"


@dataclass
class ZegoMock:
    """A running zego-mock process and helpers for its /_mock/ control routes.

    `app_id` is a string because the integration guide's code sends the AppId as one.
    """

    base_url: str
    app_id: str
    secret: str
    process: subprocess.Popen[bytes] = field(repr=False)

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with _LOOPBACK_OPENER.open(request, timeout=CONTROL_TIMEOUT_SECONDS) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise AssertionError(f"zego-mock {method} {path} failed with HTTP {error.code}: {detail}") from error
        if not payload:
            return None
        return json.loads(payload)

    def registrations(self) -> list[dict[str, Any]]:
        """Return every registration the mock accepted, oldest first."""
        return self._request("GET", "/_mock/registrations")

    def calls(self) -> list[dict[str, Any]]:
        """Return every ZEGO API call the mock received, oldest first."""
        return self._request("GET", "/_mock/calls")

    def set_faults(self, faults: dict[str, Any]) -> dict[str, Any]:
        """Replace the active faults and return them. Fields left out are cleared."""
        return self._request("POST", "/_mock/faults", faults)

    def reset(self) -> None:
        """Clear faults, registrations and calls."""
        self._request("POST", "/_mock/reset")


def _read_stdout(stream: Any, lines: queue.Queue[str | None]) -> None:
    """Pass the first stdout line to `lines`, then drain the pipe so the mock never blocks on it."""
    first = stream.readline()
    lines.put(first.decode("utf-8", "replace") if first else None)
    for _ in stream:
        pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def zego_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZegoMock]:
    """Start zego-mock on a free 127.0.0.1 port with one app, and stop it after the session."""
    binary = bin_dir() / "zego-mock"
    if not binary.is_file():
        pytest.fail(
            f"zego-mock binary not found at {binary}: run `cargo build --workspace --bins` "
            "or set ZEGO_PUSH_BIN_DIR to the folder that contains it",
            pytrace=False,
        )

    log_path = tmp_path_factory.mktemp("zego-mock") / "stderr.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--app", f"{MOCK_APP_ID}:{MOCK_SECRET}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_read_stdout, args=(process.stdout, lines), daemon=True).start()
        try:
            first_line = lines.get(timeout=STARTUP_TIMEOUT_SECONDS)
        except queue.Empty:
            first_line = None
        if first_line is None or not first_line.startswith(LISTENING_PREFIX):
            _stop(process)
            pytest.fail(
                f"zego-mock did not start: expected a stdout line starting with {LISTENING_PREFIX!r} "
                f"within {STARTUP_TIMEOUT_SECONDS:.0f} s, got {first_line!r} (exit status {process.returncode})\n"
                f"its log ({log_path}):\n{log_path.read_text()}",
                pytrace=False,
            )

        base_url = first_line[len(LISTENING_PREFIX) :].strip()
        if not base_url.startswith("http://127.0.0.1:"):
            _stop(process)
            pytest.fail(f"zego-mock listens on {base_url}, expected a 127.0.0.1 address", pytrace=False)
        yield ZegoMock(base_url=base_url, app_id=MOCK_APP_ID, secret=MOCK_SECRET, process=process)
    finally:
        _stop(process)


@pytest.fixture
def mock(zego_mock: ZegoMock) -> ZegoMock:
    """The session's zego-mock with its faults, registrations and calls cleared."""
    zego_mock.reset()
    return zego_mock


# A closed port on loopback: a test that forgets to point zego_push at the
# mock fails with a connection error instead of reaching ZEGO's real host.
UNREACHABLE_BASE_URL = "http://127.0.0.1:9"

# requests and reqwest read these, and a proxy would carry a request off the machine.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def loopback_only_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's ZEGO traffic on 127.0.0.1.

    ZEGO_BASE_URL is set to a closed loopback port unless a test sets it
    again, the ZEGO credentials are removed, and proxies are turned off.
    """
    monkeypatch.setenv("ZEGO_BASE_URL", UNREACHABLE_BASE_URL)
    monkeypatch.delenv("ZEGO_APP_ID", raising=False)
    monkeypatch.delenv("ZEGO_SERVER_SECRET", raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def zego_env(mock: ZegoMock, monkeypatch: pytest.MonkeyPatch) -> ZegoMock:
    """The reset mock, with ZEGO_APP_ID, ZEGO_SERVER_SECRET and ZEGO_BASE_URL set to its values."""
    monkeypatch.setenv("ZEGO_APP_ID", mock.app_id)
    monkeypatch.setenv("ZEGO_SERVER_SECRET", mock.secret)
    monkeypatch.setenv("ZEGO_BASE_URL", mock.base_url)
    return mock
