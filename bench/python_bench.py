"""Python benchmark: the integration guide's functions against zego_push's.

Measures, one after another on one machine and against one local zego-mock:

- signature generation: the guide's `generate_zego_signature` (hmac in
  Python) and `zego_push.generate_zego_signature` (Rust), on the guide's
  PushRegister parameters;
- registration from one thread and from THREADS threads: the guide's
  `register_zego_push_token` (requests, one new connection per call, as
  printed) and `zego_push.register_zego_push_token` (drop-in, pooled
  connections, GIL released while waiting);
- registration from asyncio: `Client.register_push_token_async` with
  THREADS calls in flight.

Each registration has its own user id and token. After each run the mock's
call log is read: every call must have been accepted, or the script exits 1.
bench/python_bench.sh installs what this needs; docs/benchmarks.md has the
method and results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import queue
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

APP_ID = "1234567890"
LISTENING_PREFIX = "zego-mock listening on "
STARTUP_TIMEOUT_SECONDS = 30
# An FCM-shaped token: 163 characters, like the tokens bench/register.lua sends.
TOKEN_BODY = "c" * 140
# Control requests go straight to the mock on loopback, never through a proxy.
LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mock-bin", required=True, type=Path, help="path of the zego-mock binary")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--threads", type=int, default=8, help="threads, and async calls in flight (default 8)")
    parser.add_argument("--output", type=Path, help="write the results as JSON to this file")
    return parser.parse_args()


class Mock:
    """A zego-mock process on a free 127.0.0.1 port."""

    def __init__(self, binary: Path, secret: str) -> None:
        self.process = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--app", f"{APP_ID}:{secret}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        try:
            first = lines.get(timeout=STARTUP_TIMEOUT_SECONDS)
        except queue.Empty:
            first = ""
        if not first.startswith(LISTENING_PREFIX + "http://127.0.0.1:"):
            self.stop()
            raise SystemExit(f"python_bench: zego-mock did not start on 127.0.0.1, its first line was {first!r}")
        self.base_url = first[len(LISTENING_PREFIX) :].strip()

    def _drain(self, lines: queue.Queue[str]) -> None:
        assert self.process.stdout is not None
        lines.put(self.process.stdout.readline().decode())
        for _ in self.process.stdout:
            pass

    def _control(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.base_url + path, method=method)
        with LOOPBACK_OPENER.open(request, timeout=10) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def outcomes(self) -> Counter[str]:
        """Return the count of each call outcome since the last reset, and reset."""
        counts = Counter(call["outcome"] for call in self._control("GET", "/_mock/calls"))
        self._control("POST", "/_mock/reset")
        return counts

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def calls_per_second(function: Callable[[], object], duration: float) -> tuple[int, float]:
    """Call `function` in a loop for `duration` seconds; return the count and the rate."""
    count = 0
    started = time.perf_counter()
    deadline = started + duration
    while time.perf_counter() < deadline:
        function()
        count += 1
    return count, count / (time.perf_counter() - started)


def registrations_per_second(
    register: Callable[[str, str, str], dict[str, Any]], threads: int, duration: float, tag: str
) -> tuple[int, float, int]:
    """Register unique tokens from `threads` threads for `duration` seconds.

    Returns the calls made, the calls per second and the replies whose Code was not 0.
    """
    failures = 0
    lock = threading.Lock()

    def worker(index: int) -> int:
        nonlocal failures
        count = 0
        deadline = time.perf_counter() + duration
        while time.perf_counter() < deadline:
            reply = register(f"{tag}{index}-{count}", f"{tag}{index}x{count}:{TOKEN_BODY}", "android")
            if reply.get("Code") != 0:
                with lock:
                    failures += 1
            count += 1
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        total = sum(pool.map(worker, range(threads)))
    return total, total / (time.perf_counter() - started), failures


def async_registrations_per_second(client: Any, in_flight: int, duration: float, tag: str) -> tuple[int, float, int]:
    """Like registrations_per_second, with `in_flight` asyncio tasks on one thread."""

    async def run() -> tuple[int, float, int]:
        failures = 0
        started = time.perf_counter()
        deadline = started + duration

        async def worker(index: int) -> int:
            nonlocal failures
            count = 0
            while time.perf_counter() < deadline:
                token = f"{tag}{index}x{count}:{TOKEN_BODY}"
                reply = await client.register_push_token_async(f"{tag}{index}-{count}", token, "android")
                if reply.get("Code") != 0:
                    failures += 1
                count += 1
            return count

        total = sum(await asyncio.gather(*(worker(index) for index in range(in_flight))))
        return total, total / (time.perf_counter() - started), failures

    return asyncio.run(run())


def machine_summary() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def main() -> int:
    args = parse_args()
    secret = secrets.token_hex(16)
    mock = Mock(args.mock_bin, secret)
    try:
        os.environ.update(ZEGO_APP_ID=APP_ID, ZEGO_SERVER_SECRET=secret, ZEGO_BASE_URL=mock.base_url)
        # guide_app reads the environment at import and exits unless the base URL is on 127.0.0.1.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import guide_app

        import zego_push

        return run(args, mock, guide_app, zego_push)
    finally:
        mock.stop()


def run(args: argparse.Namespace, mock: Mock, guide_app: Any, zego_push: Any) -> int:
    results: dict[str, Any] = {"machine": machine_summary(), "duration_s": args.duration, "threads": args.threads}
    rows: list[tuple[str, float, float]] = []
    ok = True

    params = {
        "AppId": APP_ID,
        "UserId": "user123",
        "PushID": "fcm_device_token_here",
        "PushProvider": 1,
        "Timestamp": int(time.time()),
        "Nonce": "1a2b3c4d",
    }
    assert guide_app.generate_zego_signature(params) == zego_push.generate_zego_signature(params)
    _, guide_sign = calls_per_second(lambda: guide_app.generate_zego_signature(params), args.duration)
    _, ours_sign = calls_per_second(lambda: zego_push.generate_zego_signature(params), args.duration)
    rows.append(("signature generation, 1 thread", guide_sign, ours_sign))

    runs = [
        ("registration, 1 thread", 1),
        (f"registration, {args.threads} threads", args.threads),
    ]
    for label, threads in runs:
        rates = []
        for name, register in (
            ("guide", guide_app.register_zego_push_token),
            ("zego_push", zego_push.register_zego_push_token),
        ):
            tag = f"{name[0]}{threads}t{secrets.token_hex(2)}-"
            total, rate, failures = registrations_per_second(register, threads, args.duration, tag)
            outcomes = mock.outcomes()
            results[f"{label} / {name}"] = {"calls": total, "per_second": rate, "failures": failures, "mock": outcomes}
            if failures or outcomes.get("ok", 0) != outcomes.total() or outcomes.total() < total:
                print(f"python_bench: {label} / {name}: {failures} failed replies, mock outcomes {dict(outcomes)}")
                ok = False
            rates.append(rate)
        rows.append((label, rates[0], rates[1]))

    client = zego_push.client_from_env()
    total, rate, failures = async_registrations_per_second(client, args.threads, args.duration, "a-")
    outcomes = mock.outcomes()
    results[f"registration, asyncio, {args.threads} in flight / zego_push"] = {
        "calls": total,
        "per_second": rate,
        "failures": failures,
        "mock": outcomes,
    }
    if failures or outcomes.get("ok", 0) != outcomes.total():
        ok = False

    print(f"machine: {results['machine']}")
    print(f"{'measure':<36} {'guide/s':>10} {'zego_push/s':>12} {'ratio':>7}")
    for label, guide_rate, ours_rate in rows:
        print(f"{label:<36} {guide_rate:>10,.0f} {ours_rate:>12,.0f} {ours_rate / guide_rate:>7.1f}")
    print(f"{'registration, asyncio, ' + str(args.threads) + ' in flight':<36} {'':>10} {rate:>12,.0f}")
    results["rows"] = [{"measure": label, "guide_per_s": g, "zego_push_per_s": o} for label, g, o in rows]

    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, default=dict))
        print(f"results: {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
