#!/usr/bin/env python3
"""roster watch under load: 1,000 valid signed webhooks a second for 10 s against one
`roster watch`, none lost (every one answered 200 and counted as accepted by /metrics), its
peak memory, and the time from a change landing in the sandbox to the state file showing it.

Run from the repository root, after `cargo build --release --bins -p roster -p linq-sandbox`:

    python3 benches/watch.py                  # the figures of BENCHMARKS.md, section "Watching"
    python3 benches/watch.py --rate 2000 --seconds 5 --chats 500

Standard library only. Everything listens on 127.0.0.1. The webhooks are sent by this script
(signed as Linq signs them) over keep-alive connections from several threads, each paced to its
share of the rate; the latency is measured on webhooks the sandbox itself sends for outside
changes, by polling the state file.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "target" / "release" / "roster"
SANDBOX = ROOT / "target" / "release" / "linq-sandbox"
SECRET = "bench-webhook-secret"
TOKEN = "bench-token"
ME = "+19995550000"


def chat_id(n: int) -> str:
    return str(uuid.UUID(int=0x5EED_0000_0000_4000_8000_0000_0000_0000 + n))


def member(chat: int, n: int) -> str:
    return f"+1205{chat % 1000:03d}{n:04d}"


def write_fixture(work: Path, chats: int) -> None:
    """A seed, a config and a state of `chats` chats of 5 members each, all in step."""
    seed = {"token": TOKEN, "me": ME, "chats": []}
    state = {"version": 1, "lineage": str(uuid.uuid4()), "serial": 1, "chats": {}}
    config = ["version: 1", "chats:"]
    for c in range(chats):
        members = [member(c, n) for n in range(5)]
        seed["chats"].append({"id": chat_id(c), "display_name": f"Chat {c}", "service": "iMessage", "members": members})
        state["chats"][chat_id(c)] = {"members": sorted(members), "display_name": f"Chat {c}", "service": "iMessage"}
        config.append(f"  {chat_id(c)}:")
        config.append(f"    members: [{', '.join(repr(m) for m in members)}]")
    (work / "seed.json").write_text(json.dumps(seed))
    (work / "roster.state.json").write_text(json.dumps(state))
    (work / "roster.yaml").write_text("\n".join(config) + "\n")


def start(args: list[str], cwd: Path, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts a server that prints `listening on ADDR` first; returns it and ADDR."""
    process = subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"{args[0]} did not start: {line}{process.stderr.read()}")
    address = line.split("listening on", 1)[1].strip().removeprefix("http://").split("/")[0]
    return process, address


def signed_post(conn: http.client.HTTPConnection, body: bytes) -> int:
    ts = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    conn.request("POST", "/webhooks/linq", body=body, headers={
        "Content-Type": "application/json", "X-Webhook-Timestamp": ts, "X-Webhook-Signature": signature,
        "X-Webhook-Event": "participant.added"})
    answer = conn.getresponse()
    answer.read()
    return answer.status


def envelope(chat: str) -> bytes:
    return json.dumps({
        "api_version": "v3", "webhook_version": "2026-02-03", "event_type": "participant.added",
        "event_id": str(uuid.uuid4()), "created_at": "2026-01-01T00:00:00Z", "trace_id": "bench",
        "partner_id": "bench", "data": {"chat_id": chat, "handle": "+12055550100"},
    }).encode()


def flood(address: str, rate: int, seconds: float, chats: int, threads: int) -> dict:
    """Sends rate × seconds webhooks, each thread paced to its share; the statuses and latencies."""
    host, port = address.rsplit(":", 1)
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = rate * seconds / threads
    start_at = time.perf_counter() + 0.2

    def run(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: dict[int, int] = {}
        times = []
        for n in range(int(per_thread)):
            due = start_at + (n + index / threads) * threads / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            body = envelope(chat_id((n * threads + index) % chats))
            sent = time.perf_counter()
            status = signed_post(conn, body)
            times.append(time.perf_counter() - sent)
            mine[status] = mine.get(status, 0) + 1
        with lock:
            for status, count in mine.items():
                statuses[status] = statuses.get(status, 0) + count
            latencies.extend(times)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start_at
    latencies.sort()
    return {"sent": sum(statuses.values()), "statuses": statuses, "elapsed_s": round(elapsed, 2),
            "answer_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "answer_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2)}


def metric(address: str, prefix: str) -> float:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def control(sandbox: str, path: str, body: dict) -> None:
    host, port = sandbox.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    status = conn.getresponse().status
    if status >= 300:
        raise SystemExit(f"{path}: {status}")


def landed_to_state(work: Path, sandbox: str, rounds: int) -> list[float]:
    """Outside adds and removes, each timed from the sandbox applying it to the state file
    showing it (the sandbox's webhook, the watch's read and write in between)."""
    state = work / "roster.state.json"
    times = []
    for n in range(rounds):
        chat = chat_id(n % 10)
        handle = "+12059990000"
        op = "outside-add" if (n // 10) % 2 == 0 else "outside-remove"
        began = time.perf_counter()
        control(sandbox, f"/_sandbox/chats/{chat}/{op}", {"handle": handle})
        while True:
            try:
                members = json.loads(state.read_text())["chats"][chat]["members"]
            except (ValueError, KeyError):
                continue
            if (handle in members) == (op == "outside-add"):
                break
            if time.perf_counter() - began > 30:
                raise SystemExit(f"the state never showed {op} {handle} in {chat}")
            time.sleep(0.001)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    for binary in (ROSTER, SANDBOX):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: cargo build --release --bins -p roster -p linq-sandbox")
    with tempfile.TemporaryDirectory(prefix="roster-watch-bench-") as tmp:
        work = Path(tmp)
        write_fixture(work, args.chats)
        sandbox, sandbox_addr = start([str(SANDBOX), "--seed", "seed.json", "--land-delay-ms", "0",
                                       "--webhook-secret", SECRET], work)
        env = {"LINQ_API_V3_API_KEY": TOKEN, "LINQ_API_V3_BASE_URL": f"http://{sandbox_addr}/api/partner",
               "LINQ_WEBHOOK_SECRET": SECRET}
        watch, address = start([str(ROSTER), "watch", "--listen", "127.0.0.1:0"], work, env)
        rss = None
        try:
            # The first full refresh reads every chat; wait for it to be done.
            deadline = time.time() + 60
            while metric(address, "roster_watch_full_refreshes_total") < 1:
                if time.time() > deadline:
                    raise SystemExit("no first refresh")
                time.sleep(0.05)
            flooded = flood(address, args.rate, args.seconds, args.chats, args.threads)
            accepted = metric(address, 'roster_watch_events_total{type="participant.added",outcome="accepted"')
            calls_before = metric(address, "roster_watch_api_calls_total")
            control(sandbox_addr, "/_sandbox/webhook", {"url": f"http://{address}/webhooks/linq", "secret": SECRET})
            times = landed_to_state(work, sandbox_addr, args.rounds)
            # The high-water mark of the resident set over the whole run.
            status = Path(f"/proc/{watch.pid}/status").read_text()
            rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        finally:
            watch.send_signal(15)
            _, err = watch.communicate(timeout=30)
            sandbox.terminate()
            sandbox.wait()
        if watch.returncode != 143:
            raise SystemExit(f"roster watch ended with {watch.returncode}: {err}")
        times.sort()
        result = {
            **flooded, "accepted_by_metrics": int(accepted), "lost": flooded["sent"] - int(accepted),
            "reads_during_flood": int(calls_before), "peak_rss_mb": rss and round(rss / 1024, 1),
            "landed_to_state_p50_ms": round(statistics.median(times) * 1000, 1),
            "landed_to_state_p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 1),
            "landed_to_state_max_ms": round(times[-1] * 1000, 1), "rounds": len(times),
            "rate": args.rate, "seconds": args.seconds, "chats": args.chats,
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
