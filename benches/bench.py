#!/usr/bin/env python3
"""roster's benchmarks: plan scale, startup, apply throughput, rate limit, apply memory, the
PostgreSQL state backend side by side with the file, and adaptive concurrency against nine
servers.

Run from the repository root:

    python3 benches/bench.py                 # everything, about 25 minutes on 2 cores
    python3 benches/bench.py --only plan,startup --runs 3
    python3 benches/bench.py --only creates     # 10,000 chats planned with and without 1,000 creates
    python3 benches/bench.py --only postgres    # starts a throwaway cluster with .ci/postgres
    python3 benches/bench.py --only adaptive --servers cap8,sliding50

It builds the release binaries (roster, the linq-sandbox server, the `generate` example), writes
its data under `target/bench/`, talks only to sandboxes it starts on 127.0.0.1, and prints a
report (also saved as `target/bench/results.json`). Times are whole-process wall times measured
with `time.perf_counter`; peak RSS comes from `os.wait4`. Every figure, the one-call-at-a-time
baseline, the rate and the memory figures included, is the median of at least 3 runs (in the
adaptive benchmark, a fixed setting whose first run takes over 20 s runs once), and every figure
of a report comes from one invocation (recorded in `results.json`); ratios compare runs made in
that invocation. Standard library only, except the plot of the adaptive benchmark
(`benches/plot.py`), which needs matplotlib: the harness installs it from PyPI into
`target/bench/venv` when the running Python lacks it (`--no-plot` skips it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
ROSTER = RELEASE / "roster"
SANDBOX = RELEASE / "linq-sandbox"
GENERATE = RELEASE / "examples" / "generate"
WORK = ROOT / "target" / "bench"
TOKEN = "bench-token"
ME = "+19995550000"

GOALS = {
    "plan_10k_s": 0.3,
    "plan_10k_mb": 150,
    "plan_100k_vs_10k": 10.0,
    "apply_vs_baseline": 10.0,
    "apply_vs_bound": 1.3,
    "rate_share": 0.90,
    "rate_429_share": 0.05,
    "apply_10k_mb": 200,
    "pg_apply_vs_file": 1.15,
    "pg_load_vs_file": 1.5,
}


# ---------------------------------------------------------------------------------------------
# Running processes


@dataclass
class Run:
    """One finished process: wall time, peak RSS, exit code and what it wrote."""

    seconds: float
    rss_mb: float
    code: int
    stdout: str = ""
    stderr: str = ""


# The peak RSS `os.wait4` reports for a child spawned by this (large) Python process includes the
# parent's own: Linux carries the high-water mark of the memory a child starts with across
# `exec`. GNU time measures its own small child instead; without it, figures are upper bounds.
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def run(argv: list[str], env: dict[str, str] | None = None, capture: bool = False, rss: bool = True) -> Run:
    """Runs `argv` to completion; stdout and stderr go to /dev/null unless captured.

    Output is captured through temporary files rather than pipes, so that the process can be
    reaped with `os.wait4` without a reader thread. With `rss`, peak memory comes from GNU time
    (about a millisecond more of wall time); without, the RSS figure is not meaningful.
    """
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as peak:
        sink = (out, err) if capture else (subprocess.DEVNULL, subprocess.DEVNULL)
        if rss and GNU_TIME:
            argv = [GNU_TIME, "-q", "-f", "%M", "-o", peak.name, *argv]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=sink[0], stderr=sink[1], env=full_env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        rss_mb = usage.ru_maxrss / 1024
        if rss and GNU_TIME:
            rss_mb = int(peak.read().split()[-1]) / 1024
        out.seek(0)
        err.seek(0)
        return Run(seconds, rss_mb, code, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


# Every figure is the median of at least this many runs, all made by one invocation.
MIN_RUNS = 3


def median(values):
    return statistics.median(values) if values else float("nan")


def at_least_runs(text: str) -> int:
    runs = int(text)
    if runs < MIN_RUNS:
        raise argparse.ArgumentTypeError(f"every figure is a median of at least {MIN_RUNS} runs, not {runs}")
    return runs


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The sandbox


class Sandbox:
    """A linq-sandbox process on a free loopback port, stopped on exit from the `with` block."""

    def __init__(self, seed: dict, folder: Path, *flags: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.seed_path = folder / "seed.json"
        self.seed_path.write_text(json.dumps(seed))
        self.flags = list(flags)
        self.proc = None
        self.url = ""

    def __enter__(self) -> "Sandbox":
        self.proc = subprocess.Popen(
            [str(SANDBOX), "--seed", str(self.seed_path), "--listen", "127.0.0.1:0", *self.flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.url = line.removeprefix("listening on ")
        parts = urllib.parse.urlsplit(self.url)
        self.host, self.port, self.base = parts.hostname, parts.port, parts.path
        return self

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def env(self) -> dict[str, str]:
        return {"LINQ_API_V3_BASE_URL": self.url, "LINQ_API_V3_API_KEY": TOKEN}

    def control(self, method: str, path: str):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request(method, "/_sandbox" + path)
        answer = conn.getresponse()
        body = answer.read()
        conn.close()
        return json.loads(body) if body else None


# ---------------------------------------------------------------------------------------------
# Data sets


def generate(name: str, chats: int, members: int, share: float) -> Path:
    """A generated config and state under target/bench/NAME, reused when already there."""
    folder = WORK / name
    marker = folder / "generated.json"
    wanted = {"chats": chats, "members": members, "share": share}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    result = run([str(GENERATE), str(folder), str(chats), str(members), str(share)], capture=True)
    if result.code != 0:
        raise RuntimeError(f"generate failed: {result.stderr}")
    marker.write_text(json.dumps(wanted))
    return folder


def seed_from_state(state_path: Path) -> dict:
    """A sandbox seed holding exactly the chats of a state file."""
    state = json.loads(state_path.read_text())
    chats = [{"id": cid, "members": chat["members"]} for cid, chat in state["chats"].items()]
    return {"token": TOKEN, "me": ME, "chats": chats}


def fresh_state(folder: Path, source: Path) -> Path:
    """A copy of a state file in `folder`, with no journal, lock or backup beside it."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    target = folder / "roster.state.json"
    shutil.copyfile(source, target)
    return target


def phone(n: int) -> str:
    return f"+1205{n:07d}"


def throughput_scenario(folder: Path, chats: int) -> dict:
    """The apply workload: `chats` chats, ~5 mutating calls each, interleaved by id.

    Of every 10 chats, 4 sit at the floor (3 members) and swap 2 (`+x +y wait -a -b`), 1 also
    has `max_members: 4`, so its swap alternates with a wait between every call, and 5 have 10
    members and swap 3 with no wait. 400 chats make 2,000 calls.
    """
    folder.mkdir(parents=True, exist_ok=True)
    state_chats, next_handle = {}, 0
    yaml = ["version: 1", "settings:", "  max_removal_ratio: 0.5", "chats:"]

    def handles(n):
        nonlocal next_handle
        out = [phone(next_handle + i) for i in range(n)]
        next_handle += n
        return out

    for c in range(chats):
        cid = str(uuid.UUID(int=(c * 0x9E3779B97F4A7C15) % (1 << 122) | (4 << 76) | (1 << 63)))
        kind = c % 10
        if kind < 5:
            current = handles(3)
            desired = current[:1] + handles(2)
            cap = 4 if kind == 0 else None
        else:
            current = handles(10)
            desired = current[3:] + handles(3)
            cap = None
        state_chats[cid] = {"members": sorted(current)}
        yaml.append(f"  {cid}:")
        yaml.append(f"    name: Chat {c}")
        if cap:
            yaml.append(f"    max_members: {cap}")
        yaml.append("    members: [" + ", ".join(f'"{h}"' for h in desired) + "]")
    (folder / "config").mkdir(exist_ok=True)
    (folder / "config" / "chats.yaml").write_text("\n".join(yaml) + "\n")
    state = {"version": 1, "lineage": "00000000-0000-4000-8000-00000000beef", "serial": 1,
             "chats": dict(sorted(state_chats.items()))}
    (folder / "roster.state.json").write_text(json.dumps(state, indent=1))
    return {"config": folder / "config", "state": folder / "roster.state.json"}


# ---------------------------------------------------------------------------------------------
# The baseline: the same calls made one at a time, as a script without roster would


class Api:
    """Plain HTTP to the sandbox over one kept-alive connection."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.conn = http.client.HTTPConnection(sandbox.host, sandbox.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        self.requests = 0

    def call(self, method: str, path: str, body: dict | None = None):
        self.requests += 1
        payload = json.dumps(body) if body is not None else None
        self.conn.request(method, self.sandbox.base + path, body=payload, headers=self.headers)
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def active(self, chat: str) -> set[str]:
        live = self.call("GET", f"/v3/chats/{chat}")
        return {h["handle"] for h in live["handles"]
                if not h.get("is_me") and (h.get("status") or "active") == "active"}


def baseline(sandbox: Sandbox, plan: dict) -> float:
    """Makes the plan's calls in order, one at a time; a wait polls until earlier adds show."""
    api = Api(sandbox)
    start = time.perf_counter()
    for chat in plan["chats"]:
        added, removed = [], []
        for step in chat["steps"]:
            if step["op"] == "add":
                api.call("POST", f"/v3/chats/{chat['id']}/participants", {"handle": step["handle"]})
                added.append(step["handle"])
            elif step["op"] == "remove":
                api.call("DELETE", f"/v3/chats/{chat['id']}/participants", {"handle": step["handle"]})
                removed.append(step["handle"])
            else:
                # Poll back to back (each read costs the API's latency) until the changes show.
                while True:
                    live = api.active(chat["id"])
                    if all(h in live for h in added) and not any(h in live for h in removed):
                        break
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The benchmarks


def timings_of(stderr: str) -> dict[str, float]:
    """The `timings: PHASE: N ms` lines of `--timings`, in milliseconds."""
    phases = {}
    for line in stderr.splitlines():
        if line.startswith("timings: "):
            name, value = line.removeprefix("timings: ").rsplit(": ", 1)
            phases[name] = float(value.removesuffix(" ms"))
    return phases


def bench_plan(results: dict, runs: int, sizes: list[int]) -> None:
    log("== plan scale")
    out = {}
    for chats in sizes:
        folder = generate(f"plan-{chats}", chats, 20, 0.05)
        argv = [str(ROSTER), "plan", "-c", str(folder / "config"), "--state", str(folder / "roster.state.json")]
        config_mb = sum(f.stat().st_size for f in (folder / "config").iterdir()) / 1e6
        state_mb = (folder / "roster.state.json").stat().st_size / 1e6
        n = runs if chats <= 10_000 else max(MIN_RUNS, runs // 2)
        run(argv)  # warm the page cache
        measured = [run(argv) for _ in range(n)]
        if any(r.code != 0 for r in measured):
            raise RuntimeError(f"plan of {chats} chats failed")
        timed = [timings_of(run(argv + ["--timings"], capture=True).stderr) for _ in range(n)]
        phases = {name: median([t[name] for t in timed]) for name in timed[0]}
        out[chats] = {
            "runs": n,
            "config_mb": round(config_mb, 1),
            "state_mb": round(state_mb, 1),
            "wall_s": median([r.seconds for r in measured]),
            "wall_all_s": [round(r.seconds, 4) for r in measured],
            "rss_mb": median([r.rss_mb for r in measured]),
            "phases_ms": phases,
        }
        log(f"  {chats:>7} chats: {out[chats]['wall_s']:.3f} s, {out[chats]['rss_mb']:.0f} MB "
            f"(config {config_mb:.1f} MB, state {state_mb:.1f} MB)")
        log("           " + ", ".join(f"{k} {v:.1f} ms" for k, v in phases.items()))
    results["plan"] = out


def bench_creates(results: dict, runs: int, chats: int = 10_000, creates: int = 1_000) -> None:
    """Plan of CHATS chats beside the same plan with CREATES chats to create in one more file
    (each with its line, its 20 members and a first message): the goal is within 1.1x."""
    log(f"== plan with creates: {chats} chats, then {creates} more to create")
    folder = generate(f"plan-{chats}", chats, 20, 0.05)
    with_creates = WORK / f"plan-{chats}-creates-{creates}"
    shutil.rmtree(with_creates, ignore_errors=True)
    shutil.copytree(folder / "config", with_creates / "config")
    lines = ["version: 1", "settings:", f"  max_creates: {creates}", "chats:"]
    for c in range(creates):
        lines.append(f"  bench-create-{c:05}:")
        lines.append("    create:")
        lines.append(f"      from: \"{ME}\"")
        lines.append(f"      message: \"Welcome to bench chat {c}.\"")
        members = ", ".join(f"\"+1205{(c * 20 + m) % 10_000_000:07}\"" for m in range(20))
        lines.append(f"    members: [{members}]")
    holder = next((f for f in (with_creates / "config").iterdir() if "settings:" in f.read_text()), None)
    if holder is not None:
        # One file at most holds `settings`: raise the limit there instead.
        text = holder.read_text()
        holder.write_text(text.replace("settings:\n", f"settings:\n  max_creates: {creates}\n", 1))
        lines = [line for line in lines if not line.startswith(("settings:", "  max_creates"))]
    (with_creates / "config" / "zz-creates.yaml").write_text("\n".join(lines) + "\n")
    out = {}
    for name, config in [("without", folder / "config"), ("with", with_creates / "config")]:
        argv = [str(ROSTER), "plan", "-c", str(config), "--state", str(folder / "roster.state.json")]
        run(argv)  # warm the page cache
        measured = [run(argv) for _ in range(runs)]
        if any(r.code != 0 for r in measured):
            raise RuntimeError(f"plan {name} creates failed: {run(argv, capture=True).stderr}")
        out[name] = {"wall_s": median([r.seconds for r in measured]), "rss_mb": median([r.rss_mb for r in measured]),
                     "wall_all_s": [round(r.seconds, 4) for r in measured]}
        log(f"  {name:>7} creates: {out[name]['wall_s']:.3f} s, {out[name]['rss_mb']:.0f} MB")
    out["ratio"] = out["with"]["wall_s"] / out["without"]["wall_s"]
    log(f"  ratio {out['ratio']:.2f}x (goal 1.1x)")
    results["creates"] = out


def bench_startup(results: dict, runs: int) -> None:
    log("== startup: roster validate on examples/team/config")
    argv = [str(ROSTER), "validate", "-c", str(ROOT / "examples" / "team" / "config")]
    run(argv)
    # Wall time without the GNU time wrapper (a millisecond matters here); memory with it.
    measured = [run(argv, rss=False) for _ in range(runs)]
    if any(r.code != 0 for r in measured):
        raise RuntimeError("validate failed")
    memory = run(argv).rss_mb
    results["startup"] = {
        "runs": runs,
        "wall_ms": median([r.seconds for r in measured]) * 1e3,
        "min_ms": min(r.seconds for r in measured) * 1e3,
        "rss_mb": memory,
    }
    log(f"  median {results['startup']['wall_ms']:.2f} ms over {runs} runs")


def check_converged(sandbox: Sandbox, plan: dict) -> list[str]:
    """Problems with the sandbox after a run: violations, or chats not as planned."""
    problems = [f"violation: {v}" for v in sandbox.control("GET", "/violations")]
    sandbox.control("POST", "/land")
    chats = sandbox.control("GET", "/chats")
    for chat in plan["chats"]:
        if chat["action"] == "update" and sorted(chats.get(chat["id"], [])) != sorted(chat["after"]):
            problems.append(f"chat {chat['id']} is not as planned")
    return problems


def roster_apply(scenario: dict, folder: Path, sandbox: Sandbox, *flags: str) -> Run:
    state = fresh_state(folder, scenario["state"])
    result = run([str(ROSTER), "apply", "--auto-approve", "-c", str(scenario["config"]), "--state", str(state),
                  *flags], env=sandbox.env(), capture=True)
    (folder / "stderr.txt").write_text(result.stderr)
    (folder / "stdout.txt").write_text(result.stdout)
    return result


def default_parallelism() -> int:
    """The default of `roster apply --parallelism`, from its help."""
    text = run([str(ROSTER), "apply", "--help"], capture=True).stdout
    after = text.split("--parallelism", 1)[1]
    return int(after.split("[default: ", 1)[1].split("]", 1)[0])


def lower_bound(plan: dict, latency: float, land: float, parallelism: int) -> dict:
    calls = sum(1 for c in plan["chats"] for s in c["steps"] if s["op"] != "wait")
    chats = sum(1 for c in plan["chats"] if c["steps"])
    # One chat's chain: its calls one after another, each wait at least the landing delay.
    chain = max(sum(latency if s["op"] != "wait" else land for s in c["steps"]) for c in plan["chats"])
    # The same with the reads roster must make: one before changing a chat, one to confirm.
    chain_reads = chain + 2 * latency
    # A chat holds one of the `parallelism` slots from its first read to its last, waits
    # included: the sum of those times, shared over the slots.
    slots = sum(sum(latency if s["op"] != "wait" else land for s in c["steps"]) + 2 * latency
                for c in plan["chats"] if c["steps"])
    return {
        "calls": calls,
        "chats": chats,
        "bound_s": max(calls * latency / parallelism, chain),
        "bound_with_reads_s": max((calls + 2 * chats) * latency / parallelism, chain_reads),
        "longest_chain_s": chain,
        "bound_slots_s": max(slots / parallelism, chain_reads),
    }


def bench_apply(results: dict, runs: int, chats: int, baseline_runs: int) -> None:
    latency, land = 0.020, 0.100
    log(f"== apply throughput: {chats} chats, latency {latency * 1e3:.0f} ms, landing after {land * 1e3:.0f} ms")
    folder = WORK / "apply"
    scenario = throughput_scenario(folder / "data", chats)
    seed = seed_from_state(scenario["state"])
    flags = ("--latency-ms", str(int(latency * 1e3)), "--land-delay-ms", str(int(land * 1e3)))
    planned = run([str(ROSTER), "plan", "--format", "json", "-c", str(scenario["config"]),
                   "--state", str(scenario["state"])], capture=True)
    if planned.code != 0:
        raise RuntimeError(f"plan failed: {planned.stderr}")
    plan = json.loads(planned.stdout)
    summary = plan["summary"]
    log(f"  plan: {summary['add']} adds, {summary['remove']} removes, {summary['wait']} waits "
        f"in {summary['chats_changed']} chats")

    default = default_parallelism()
    variants = {"default": ((), default), "parallelism 32": (("--parallelism", "32"), 32),
                "parallelism 64": (("--parallelism", "64"), 64)}
    out = {"summary": summary, "variants": {}}
    for name, (extra, _) in variants.items():
        times, calls = [], []
        for i in range(runs):
            with Sandbox(seed, folder / "sandbox", *flags) as sandbox:
                result = roster_apply(scenario, folder / f"run-{name.replace(' ', '-')}", sandbox, *extra)
                if result.code != 0:
                    raise RuntimeError(f"apply ({name}) failed: {result.stderr[-2000:]}")
                problems = check_converged(sandbox, plan)
                if problems:
                    raise RuntimeError(f"apply ({name}): {problems[:5]}")
                calls.append(len(sandbox.control("GET", "/calls")))
            times.append(result.seconds)
        out["variants"][name] = {"wall_s": median(times), "all_s": [round(t, 3) for t in times],
                                 "requests": median(calls), "parallelism": variants[name][1]}
        log(f"  roster apply ({name}): {median(times):.2f} s, {median(calls):.0f} requests "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)})")

    base_times = []
    for _ in range(baseline_runs):
        with Sandbox(seed, folder / "sandbox", *flags) as sandbox:
            base_times.append(baseline(sandbox, plan))
            problems = check_converged(sandbox, plan)
            if problems:
                raise RuntimeError(f"baseline: {problems[:5]}")
    out["baseline_s"] = median(base_times)
    out["baseline_all_s"] = [round(t, 2) for t in base_times]
    log(f"  one call at a time (baseline): {out['baseline_s']:.2f} s")
    for name, (_, parallelism) in variants.items():
        bound = lower_bound(plan, latency, land, parallelism)
        variant = out["variants"][name]
        variant.update(bound)
        variant["vs_baseline"] = out["baseline_s"] / variant["wall_s"]
        variant["vs_bound"] = variant["wall_s"] / bound["bound_s"]
        variant["vs_bound_with_reads"] = variant["wall_s"] / bound["bound_with_reads_s"]
        variant["vs_bound_slots"] = variant["wall_s"] / bound["bound_slots_s"]
        log(f"  {name}: {variant['vs_baseline']:.1f}x faster than the baseline; "
            f"{variant['vs_bound']:.2f}x the lower bound {bound['bound_s']:.2f} s "
            f"({variant['vs_bound_with_reads']:.2f}x the bound with roster's reads, "
            f"{bound['bound_with_reads_s']:.2f} s; {variant['vs_bound_slots']:.2f}x the bound with reads "
            f"and waits holding their slot, {bound['bound_slots_s']:.2f} s)")
    results["apply"] = out


def bench_rate(results: dict, runs: int, chats: int) -> None:
    limit = 100
    log(f"== rate limit: sandbox answers 429 above {limit} requests/s; roster --parallelism 32; {runs} runs")
    folder = WORK / "rate"
    scenario = throughput_scenario(folder / "data", chats)
    seed = seed_from_state(scenario["state"])
    each = []
    for i in range(runs):
        with Sandbox(seed, folder / "sandbox", "--rate-limit", str(limit), "--land-delay-ms", "100") as sandbox:
            result = roster_apply(scenario, folder / f"run-{i}", sandbox, "--parallelism", "32")
            calls = sandbox.control("GET", "/calls")
            violations = sandbox.control("GET", "/violations")
        limited = [c for c in calls if c["status"] == 429]
        served = [c for c in calls if c["status"] != 429]
        failed = [c for c in served if c["status"] >= 400]
        span = (max(c["at_ms"] for c in calls) - min(c["at_ms"] for c in calls)) / 1e3
        # The bucket starts full, one second's worth of requests: without that burst, the rate
        # roster sustained.
        sustained = (len(served) - limit) / span
        each.append({
            "requests": len(calls),
            "answered_429": len(limited),
            "share_429": len(limited) / len(calls),
            "failed": len(failed),
            "exit_code": result.code,
            "violations": len(violations),
            "span_s": span,
            "achieved_per_s": len(served) / span,
            "sustained_per_s": sustained,
            "share_of_limit": sustained / limit,
            "wall_s": result.seconds,
        })
        log(f"  run {i + 1}: {len(calls)} requests in {span:.1f} s, {sustained:.1f}/s sustained, "
            f"{len(limited)} answered 429, {len(failed)} failed, exit {result.code}")
    # Medians of each figure; failures, violations and exit codes as the worst run had them.
    out = {key: median([e[key] for e in each]) for key in each[0]}
    for key in ("failed", "violations", "exit_code"):
        out[key] = max(e[key] for e in each)
    out.update({"limit": limit, "runs": runs, "all": each})
    results["rate"] = out
    log(f"  median: {out['requests']:.0f} requests in {out['span_s']:.1f} s: {out['achieved_per_s']:.1f}/s, "
        f"{out['sustained_per_s']:.1f}/s without the first second's burst ({out['share_of_limit']:.0%} of the limit), "
        f"{out['answered_429']:.0f} answered 429 ({out['share_429']:.1%}); worst run: {out['failed']} failed, "
        f"exit {out['exit_code']}")


def bench_apply_memory(results: dict, runs: int, chats: int) -> None:
    log(f"== apply memory: {chats} chats x 20 members, 5% of memberships changed (the plan data set); "
        f"{runs} runs")
    folder = generate(f"plan-{chats}", chats, 20, 0.05)
    scenario = {"config": folder / "config", "state": folder / "roster.state.json"}
    seed = seed_from_state(scenario["state"])
    each = []
    for i in range(runs):
        # A fresh sandbox and state each run: every run makes the same calls.
        with Sandbox(seed, WORK / f"apply-{chats}-sandbox", "--land-delay-ms", "0") as sandbox:
            result = roster_apply(scenario, WORK / f"apply-{chats}-run-{i}", sandbox, "--parallelism", "32", "-q")
            requests = len(sandbox.control("GET", "/calls"))
            violations = sandbox.control("GET", "/violations")
        if result.code != 0 or violations:
            raise RuntimeError(f"apply of {chats} chats failed: {result.stderr[-2000:]}")
        each.append({"rss_mb": result.rss_mb, "wall_s": result.seconds, "requests": requests})
        log(f"  run {i + 1}: peak RSS {result.rss_mb:.0f} MB, {result.seconds:.1f} s, {requests} requests")
    out = {key: median([e[key] for e in each]) for key in each[0]}
    out.update({"chats": chats, "runs": runs, "rss_all_mb": [round(e["rss_mb"], 1) for e in each]})
    results["apply_memory"] = out
    log(f"  median: peak RSS {out['rss_mb']:.0f} MB, {out['wall_s']:.1f} s, {out['requests']:.0f} requests")


# ---------------------------------------------------------------------------------------------
# The PostgreSQL state backend, side by side with the file


class Postgres:
    """A throwaway cluster from `.ci/postgres`, stopped on exit from the `with` block."""

    def __enter__(self) -> "Postgres":
        script = 'printf "%s\\n" "$ROSTER_TEST_POSTGRES"; exec cat >/dev/null'
        self.proc = subprocess.Popen(["bash", str(ROOT / ".ci" / "postgres"), "bash", "-c", script],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        line = ""
        while not line.startswith("postgres://"):
            line = self.proc.stdout.readline().decode()
            if not line:
                self.proc.wait(timeout=60)
                raise RuntimeError("no PostgreSQL: .ci/postgres ended")
            line = line.strip()
        self.url = line
        return self

    def state(self, name: str) -> str:
        return f"{self.url}?name={name}&sslmode=disable"

    def __exit__(self, *exc) -> None:
        # End of input ends `cat`, and `.ci/postgres` stops the cluster on its way out.
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def push(state: str, source: Path) -> None:
    pushed = run([str(ROSTER), "--state", state, "state", "push", str(source)], capture=True, rss=False)
    if pushed.code != 0:
        raise RuntimeError(f"state push failed: {pushed.stderr}")


def bench_postgres(results: dict, runs: int, chats: int) -> None:
    """The 2,000-call apply and loading a 10,000-chat state, each with the file and with
    PostgreSQL, alternating run by run; and the startup of a command that does not use the state,
    with `ROSTER_STATE` naming a database and without."""
    runs = max(3, runs)
    out = {"runs": runs}
    with Postgres() as pg:
        log(f"== postgres: {chats}-chat apply, file vs PostgreSQL ({runs} runs each, alternating)")
        latency, land = 0.020, 0.100
        folder = WORK / "postgres"
        scenario = throughput_scenario(folder / "data", chats)
        seed = seed_from_state(scenario["state"])
        flags = ("--latency-ms", str(int(latency * 1e3)), "--land-delay-ms", str(int(land * 1e3)))
        times = {"file": [], "postgres": []}
        for i in range(runs):
            for backend in ("file", "postgres"):
                with Sandbox(seed, folder / "sandbox", *flags) as sandbox:
                    if backend == "file":
                        result = roster_apply(scenario, folder / "run-file", sandbox)
                    else:
                        state = pg.state(f"apply-{i}")
                        push(state, scenario["state"])
                        result = run([str(ROSTER), "apply", "--auto-approve", "-c", str(scenario["config"]),
                                      "--state", state], env=sandbox.env(), capture=True)
                    if result.code != 0:
                        raise RuntimeError(f"apply ({backend}) failed: {result.stderr[-2000:]}")
                    calls = sum(1 for c in sandbox.control("GET", "/calls") if c["method"] in ("POST", "DELETE"))
                    if calls < 2 * chats:
                        raise RuntimeError(f"apply ({backend}) made {calls} calls")
                times[backend].append(result.seconds)
        file_s, pg_s = median(times["file"]), median(times["postgres"])
        out["apply"] = {"file_s": file_s, "postgres_s": pg_s, "ratio": pg_s / file_s,
                        "file_all_s": [round(t, 3) for t in times["file"]],
                        "postgres_all_s": [round(t, 3) for t in times["postgres"]]}
        log(f"  file {file_s:.2f} s, PostgreSQL {pg_s:.2f} s: {pg_s / file_s:.2f}x "
            f"(file {times['file']}, PostgreSQL {times['postgres']})")

        log("== postgres: loading a 10,000-chat state (`roster state pull`), file vs PostgreSQL")
        data = generate("plan-10000", 10_000, 20, 0.05)
        state_file = data / "roster.state.json"
        push(pg.state("load-10k"), state_file)
        argv = {"file": [str(ROSTER), "--state", str(state_file), "state", "pull"],
                "postgres": [str(ROSTER), "--state", pg.state("load-10k"), "state", "pull"]}
        plan_argv = {backend: [str(ROSTER), "plan", "-c", str(data / "config"), "--state", a[2]]
                     for backend, a in argv.items()}
        loads = {"file": [], "postgres": []}
        plans = {"file": [], "postgres": []}
        for backend in argv:
            run(argv[backend], rss=False)  # warm the caches
        for _ in range(runs * 2):
            for backend in argv:
                loaded = run(argv[backend], rss=False)
                if loaded.code != 0:
                    raise RuntimeError(f"state pull ({backend}) failed")
                loads[backend].append(loaded.seconds)
        for _ in range(runs):
            for backend in argv:
                planned = run(plan_argv[backend], rss=False)
                if planned.code != 0:
                    raise RuntimeError(f"plan ({backend}) failed")
                plans[backend].append(planned.seconds)
        load_file, load_pg = median(loads["file"]), median(loads["postgres"])
        plan_file, plan_pg = median(plans["file"]), median(plans["postgres"])
        out["load"] = {"state_mb": round(state_file.stat().st_size / 1e6, 1), "file_s": load_file,
                       "postgres_s": load_pg, "ratio": load_pg / load_file,
                       "plan_file_s": plan_file, "plan_postgres_s": plan_pg, "plan_ratio": plan_pg / plan_file}
        log(f"  state pull: file {load_file * 1e3:.0f} ms, PostgreSQL {load_pg * 1e3:.0f} ms: "
            f"{load_pg / load_file:.2f}x; plan: file {plan_file * 1e3:.0f} ms, PostgreSQL {plan_pg * 1e3:.0f} ms: "
            f"{plan_pg / plan_file:.2f}x")

        log("== postgres: startup of `roster validate`, with and without ROSTER_STATE naming a database")
        validate = [str(ROSTER), "validate", "-c", str(ROOT / "examples" / "team" / "config")]
        starts = {"without": [], "with": []}
        run(validate, rss=False)
        for _ in range(runs * 10):
            starts["without"].append(run(validate, rss=False).seconds)
            starts["with"].append(run(validate, env={"ROSTER_STATE": pg.state("x")}, rss=False).seconds)
        out["startup"] = {name: median(v) * 1e3 for name, v in starts.items()}
        log(f"  validate: {out['startup']['without']:.2f} ms without, {out['startup']['with']:.2f} ms with "
            f"ROSTER_STATE (median of {runs * 10})")
    results["postgres"] = out


# ---------------------------------------------------------------------------------------------
# Adaptive concurrency: the defaults against fixed --parallelism on the servers a client meets

# name -> (what it is, sandbox flags, chats of the throughput scenario). Fewer chats where a
# server is slow or limits the rate, to keep the whole benchmark near half an hour.
SERVERS = {
    "latency20": ("20 ms latency", ("--latency-ms", "20"), 400),
    "latency200": ("200 ms latency", ("--latency-ms", "200"), 100),
    "step": ("20 ms, 60 ms from 0.5 s on, whatever the load", ("--latency-ms", "20", "--latency-step", "500:60"), 400),
    "jitter": ("jitter 20-80 ms", ("--latency-ms", "20", "--latency-max-ms", "80"), 200),
    "workers12": ("12 workers, a queue (20 ms each)", ("--latency-ms", "20", "--workers", "12"), 200),
    "cap8": ("at most 8 in flight (20 ms)", ("--max-in-flight", "8", "--latency-ms", "20"), 50),
    "bucket50": ("50/s, token bucket (20 ms)",
                 ("--rate-limit", "50", "--rate-limit-kind", "token-bucket", "--latency-ms", "20"), 100),
    "fixed50": ("50/s, fixed 1-s windows (20 ms)",
                ("--rate-limit", "50", "--rate-limit-kind", "fixed-window", "--latency-ms", "20"), 100),
    "sliding50": ("50 in any second, sliding window (20 ms)",
                  ("--rate-limit", "50", "--rate-limit-kind", "sliding-window", "--latency-ms", "20"), 100),
}
# Servers that limit the rate: their figure also says how much of the limit was sustained.
RATE_LIMITED = {"bucket50": 50, "fixed50": 50, "sliding50": 50}
# The goals on every server: the defaults within this of the best fixed setting, at most this
# share answered 429, the slowest run of the defaults within this of their median.
ADAPTIVE_GOALS = {"vs_best": 1.3, "share_429": 0.05, "slowest_vs_median": 1.5}
FIXED = [4, 8, 16, 32, 64, 128]
# A run past this is stopped (SIGINT, and a second one 5 s later) and reported as slower than it.
ADAPTIVE_TIMEOUT_S = 30.0
# A fixed variant whose first run took longer than this is not repeated (the defaults always are).
REPEAT_UNDER_S = 10.0


def roster_apply_timed(scenario: dict, folder: Path, sandbox: Sandbox, flags: tuple, timeout: float) -> Run:
    """`roster apply` with `flags`, interrupted (SIGINT) after `timeout` seconds."""
    state = fresh_state(folder, scenario["state"])
    argv = [str(ROSTER), "apply", "--auto-approve", "-c", str(scenario["config"]), "--state", str(state), *flags]
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.update(sandbox.env())
    with open(folder / "stdout.txt", "wb") as out, open(folder / "stderr.txt", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                # Requests still retrying 429s finish first; a second signal exits at once.
                proc.send_signal(signal.SIGINT)
                code = proc.wait()
        seconds = time.perf_counter() - start
    return Run(seconds, 0.0, code, (folder / "stdout.txt").read_text(), (folder / "stderr.txt").read_text())


def concurrency_trace(stderr: str) -> list[dict]:
    """The `timings: concurrency: T s: limit L, in flight N, latency X ms, base Y ms` lines."""
    points = []
    for line in stderr.splitlines():
        if not line.startswith("timings: concurrency: "):
            continue
        at, rest = line.removeprefix("timings: concurrency: ").split(" s: ", 1)
        fields = dict(part.rsplit(" ", 1) if not part.endswith(" ms") else part.removesuffix(" ms").rsplit(" ", 1)
                      for part in rest.split(", "))
        points.append({"at": float(at), "limit": int(fields["limit"]), "in_flight": int(fields["in flight"]),
                       "latency_ms": float(fields["latency"]), "base_ms": float(fields["base"])})
    return points


def in_flight_over_time(calls: list[dict]) -> list[tuple[float, int]]:
    """Requests in flight at the sandbox as a step function: (seconds, count) at every change."""
    events = []
    for c in calls:
        if c["at_ms"] > c["arrived_at_ms"]:
            events.append((c["arrived_at_ms"], 1))
            events.append((c["at_ms"], -1))
    events.sort()
    steps, level = [], 0
    for at, delta in events:
        level += delta
        steps.append((at / 1e3, level))
    return steps


def bench_adaptive(results: dict, runs: int, fixed_runs: int, servers: list[str], plot: bool) -> None:
    log(f"== adaptive concurrency: the defaults ({runs} runs) against fixed --parallelism "
        f"({fixed_runs} runs) on {len(servers)} servers")
    out = {"fixed": FIXED, "servers": {}}
    land = ("--land-delay-ms", "100")
    for key in servers:
        title, flags, chats = SERVERS[key]
        folder = WORK / "adaptive" / key
        scenario = throughput_scenario(folder / "data", chats)
        seed = seed_from_state(scenario["state"])
        planned = run([str(ROSTER), "plan", "--format", "json", "-c", str(scenario["config"]),
                       "--state", str(scenario["state"])], capture=True)
        plan = json.loads(planned.stdout)
        log(f"  {title}: {chats} chats, {plan['summary']['add'] + plan['summary']['remove']} calls")
        variants = {"defaults": ("--timings", "--format", "json")}
        variants.update({f"fixed {n}": ("--parallelism", str(n), "--fixed-parallelism") for n in FIXED})
        server = {"title": title, "chats": chats, "sandbox_flags": list(flags), "variants": {}}
        for name, extra in variants.items():
            measured = []
            for i in range(runs if name == "defaults" else fixed_runs):
                with Sandbox(seed, folder / "sandbox", *flags, *land) as sandbox:
                    result = roster_apply_timed(scenario, folder / f"run-{name.replace(' ', '-')}", sandbox,
                                                extra, ADAPTIVE_TIMEOUT_S)
                    calls = sandbox.control("GET", "/calls")
                    problems = check_converged(sandbox, plan) if result.code == 0 else []
                limited = sum(1 for c in calls if c["status"] == 429)
                served = [c for c in calls if c["status"] != 429]
                span = (max(c["at_ms"] for c in calls) - min(c["at_ms"] for c in calls)) / 1e3 if calls else 0
                entry = {"wall_s": result.seconds, "code": result.code, "requests": len(calls),
                         "answered_429": limited, "share_429": limited / max(1, len(calls)),
                         "timed_out": result.seconds >= ADAPTIVE_TIMEOUT_S, "problems": problems[:3],
                         "served_per_s": len(served) / span if span else 0.0}
                if key in RATE_LIMITED and span:
                    # Without the first second's worth (a bucket's burst, a window's), as in the
                    # rate benchmark.
                    entry["sustained_per_s"] = (len(served) - RATE_LIMITED[key]) / span
                if name == "defaults":
                    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
                    entry["concurrency"] = report.get("concurrency")
                    if i == 0:
                        server["trace"] = {"roster": concurrency_trace(result.stderr),
                                           "in_flight": in_flight_over_time(calls)}
                measured.append(entry)
                if result.code != 0 or problems or (name != "defaults" and result.seconds > REPEAT_UNDER_S):
                    break
            walls = [m["wall_s"] for m in measured]
            summary = {
                "runs": len(measured),
                "wall_s": median(walls),
                "all_s": [round(w, 2) for w in walls],
                "share_429": median([m["share_429"] for m in measured]),
                "requests": median([m["requests"] for m in measured]),
                "ok": all(m["code"] == 0 and not m["problems"] for m in measured),
                "timed_out": any(m["timed_out"] for m in measured),
                "runs_detail": measured,
            }
            summary["slowest_vs_median"] = max(walls) / summary["wall_s"]
            if key in RATE_LIMITED:
                summary["sustained_per_s"] = median([m.get("sustained_per_s", 0.0) for m in measured])
            if name == "defaults":
                summary["concurrency"] = [m.get("concurrency") for m in measured]
            server["variants"][name] = summary
            extra_text = f", {summary['sustained_per_s']:.1f}/s sustained" if key in RATE_LIMITED else ""
            stopped = " (stopped at the timeout)" if summary["timed_out"] else ""
            log(f"    {name:>9}: {summary['wall_s']:6.2f} s{stopped} (runs: {', '.join(f'{w:.2f}' for w in walls)}), "
                f"{summary['share_429']:.1%} 429{extra_text}{'' if summary['ok'] else ', FAILED or stopped'}")
        fixed = {n: server["variants"][f"fixed {n}"] for n in FIXED}
        best = min((v["wall_s"], n) for n, v in fixed.items() if v["ok"])
        server["best_fixed"] = best[1]
        server["vs_best"] = server["variants"]["defaults"]["wall_s"] / best[0]
        log(f"    defaults vs best fixed ({best[1]}): {server['vs_best']:.2f}x")
        out["servers"][key] = server
    results["adaptive"] = out
    (WORK / "adaptive" / "results.json").write_text(json.dumps(out, indent=2))
    if plot:
        draw_plot(WORK / "adaptive" / "results.json", ROOT / "benches" / "adaptive.png")


def draw_plot(data: Path, png: Path) -> None:
    """Runs benches/plot.py with a Python that has matplotlib, installing it if need be."""
    python = sys.executable
    if subprocess.run([python, "-c", "import matplotlib"], capture_output=True).returncode != 0:
        venv = WORK / "venv"
        python = str(venv / "bin" / "python")
        if not Path(python).exists() or subprocess.run([python, "-c", "import matplotlib"],
                                                       capture_output=True).returncode != 0:
            log("  installing matplotlib into target/bench/venv (for the plot)")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([python, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
    subprocess.run([python, str(ROOT / "benches" / "plot.py"), str(data), str(png)], check=True)
    log(f"  plot: {png.relative_to(ROOT)}")


# ---------------------------------------------------------------------------------------------
# Report


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(results: dict) -> None:
    lines = ["", "== summary"]
    plan = results.get("plan", {})
    if 10_000 in plan:
        p = plan[10_000]
        lines.append(f"plan 10,000 chats: {p['wall_s']:.3f} s (goal <= {GOALS['plan_10k_s']} s: "
                     f"{verdict(p['wall_s'] <= GOALS['plan_10k_s'])}), {p['rss_mb']:.0f} MB "
                     f"(goal <= {GOALS['plan_10k_mb']} MB: {verdict(p['rss_mb'] <= GOALS['plan_10k_mb'])})")
        if 100_000 in plan:
            q = plan[100_000]
            t, m = q["wall_s"] / p["wall_s"], q["rss_mb"] / p["rss_mb"]
            ok = t <= GOALS["plan_100k_vs_10k"] and m <= GOALS["plan_100k_vs_10k"]
            lines.append(f"plan 100,000 chats: {q['wall_s']:.3f} s ({t:.1f}x), {q['rss_mb']:.0f} MB ({m:.1f}x) "
                         f"(goal <= 10x: {verdict(ok)})")
    if "creates" in results:
        c = results["creates"]
        lines.append(f"plan 10,000 chats with 1,000 to create: {c['with']['wall_s']:.3f} s vs {c['without']['wall_s']:.3f} s "
                     f"without = {c['ratio']:.2f}x (goal <= 1.1x: {verdict(c['ratio'] <= 1.1)})")
    if "startup" in results:
        lines.append(f"validate (startup): median {results['startup']['wall_ms']:.2f} ms")
    if "apply" in results:
        a = results["apply"]
        for name, v in a["variants"].items():
            lines.append(
                f"apply {name}: {v['wall_s']:.2f} s vs baseline {a['baseline_s']:.2f} s = {v['vs_baseline']:.1f}x "
                f"(goal >= 10x: {verdict(v['vs_baseline'] >= GOALS['apply_vs_baseline'])}); "
                f"{v['vs_bound']:.2f}x the lower bound {v['bound_s']:.2f} s "
                f"(goal <= 1.3x: {verdict(v['vs_bound'] <= GOALS['apply_vs_bound'])}); "
                f"{v['vs_bound_slots']:.2f}x the bound counting reads and waits {v['bound_slots_s']:.2f} s")
    if "rate" in results:
        r = results["rate"]
        ok = (r["share_of_limit"] >= GOALS["rate_share"] and r["share_429"] <= GOALS["rate_429_share"]
              and r["failed"] == 0 and r["exit_code"] == 0)
        lines.append(f"rate limit: {r['sustained_per_s']:.1f}/s sustained of {r['limit']}/s, {r['share_429']:.1%} 429, "
                     f"{r['failed']} failed (goal >= 90%, <= 5%, none: {verdict(ok)})")
    if "adaptive" in results:
        g = ADAPTIVE_GOALS
        for key, server in results["adaptive"]["servers"].items():
            d = server["variants"]["defaults"]
            ok = (server["vs_best"] <= g["vs_best"] and d["share_429"] <= g["share_429"]
                  and d["slowest_vs_median"] <= g["slowest_vs_median"] and d["ok"])
            sustained = ""
            if key in RATE_LIMITED:
                sustained = f", {d['sustained_per_s']:.1f}/s sustained of {RATE_LIMITED[key]}/s"
            lines.append(f"adaptive, {server['title']}: defaults {d['wall_s']:.2f} s = {server['vs_best']:.2f}x the "
                         f"best fixed ({server['best_fixed']}), {d['share_429']:.1%} 429, slowest of "
                         f"{d['runs']} {d['slowest_vs_median']:.2f}x the median{sustained} (goal <= "
                         f"{g['vs_best']}x, <= {g['share_429']:.0%}, <= {g['slowest_vs_median']}x: {verdict(ok)})")
    if "apply_memory" in results:
        m = results["apply_memory"]
        lines.append(f"apply {m['chats']:,} chats: peak RSS {m['rss_mb']:.0f} MB "
                     f"(goal <= {GOALS['apply_10k_mb']} MB: {verdict(m['rss_mb'] <= GOALS['apply_10k_mb'])})")
    if "postgres" in results:
        p = results["postgres"]
        a, ld = p["apply"], p["load"]
        lines.append(f"apply with PostgreSQL: {a['postgres_s']:.2f} s vs file {a['file_s']:.2f} s = {a['ratio']:.2f}x "
                     f"(goal <= {GOALS['pg_apply_vs_file']}x: {verdict(a['ratio'] <= GOALS['pg_apply_vs_file'])})")
        lines.append(f"load 10,000 chats from PostgreSQL: {ld['postgres_s'] * 1e3:.0f} ms vs file "
                     f"{ld['file_s'] * 1e3:.0f} ms = {ld['ratio']:.2f}x "
                     f"(goal <= {GOALS['pg_load_vs_file']}x: {verdict(ld['ratio'] <= GOALS['pg_load_vs_file'])})")
        lines.append(f"validate startup: {p['startup']['without']:.2f} ms, {p['startup']['with']:.2f} ms "
                     f"with ROSTER_STATE=postgres://...")
    print("\n".join(lines))


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform(), "rustc": rustc,
            "load": os.getloadavg()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="plan,startup,apply,rate,memory,postgres,adaptive",
                        help="comma-separated: plan, creates, startup, apply, rate, memory, postgres, adaptive")
    parser.add_argument("--runs", type=at_least_runs, default=5,
                        help=f"runs per figure, at least {MIN_RUNS} (startup: 6x this; apply, rate, memory and "
                             f"postgres: about half, at least {MIN_RUNS})")
    parser.add_argument("--baseline-runs", type=at_least_runs, default=MIN_RUNS,
                        help=f"runs of the one-call-at-a-time baseline, at least {MIN_RUNS} (about a minute each)")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"servers of the adaptive benchmark: {', '.join(SERVERS)}")
    parser.add_argument("--no-plot", action="store_true", help="skip the adaptive benchmark's plot")
    parser.add_argument("--sizes", default="1000,10000,100000", help="chat counts of the plan benchmark")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    args = parser.parse_args()
    only = set(args.only.split(","))

    if not args.no_build:
        log("== cargo build --release")
        build = subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "roster", "-p", "linq-sandbox",
                                "--bins", "--example", "generate"], cwd=ROOT)
        if build.returncode != 0:
            return build.returncode
    WORK.mkdir(parents=True, exist_ok=True)
    # One invocation makes every figure of the report: record how, so a partial or mixed report
    # cannot pass for a whole one.
    results = {"machine": machine(), "invocation": {"argv": sys.argv[1:], "only": sorted(only), "runs": args.runs,
                                                    "baseline_runs": args.baseline_runs}}
    log(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
        f"load {results['machine']['load'][0]:.2f}")
    if "plan" in only:
        bench_plan(results, args.runs, [int(s) for s in args.sizes.split(",")])
    if "creates" in only:
        bench_creates(results, args.runs)
    if "startup" in only:
        bench_startup(results, args.runs * 6)
    if "apply" in only:
        bench_apply(results, max(MIN_RUNS, args.runs // 2 + 1), 400, args.baseline_runs)
    if "rate" in only:
        bench_rate(results, max(MIN_RUNS, args.runs // 2 + 1), 300)
    if "memory" in only:
        bench_apply_memory(results, max(MIN_RUNS, args.runs // 2 + 1), 10_000)
    if "postgres" in only:
        bench_postgres(results, max(MIN_RUNS, args.runs // 2 + 1), 400)
    if "adaptive" in only:
        bench_adaptive(results, args.runs, max(MIN_RUNS, args.runs // 2 + 1), args.servers.split(","),
                       not args.no_plot)
    (WORK / "results.json").write_text(json.dumps(results, indent=2, default=str))
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
