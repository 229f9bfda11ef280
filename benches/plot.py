#!/usr/bin/env python3
"""Plots the adaptive benchmark: for the defaults' first run on some servers, requests in flight
(at the sandbox, and roster's limit) and roster's measured latency (and its base) over time.

    python3 benches/plot.py target/bench/adaptive/results.json benches/adaptive.png [SERVERS]

SERVERS is a comma-separated list of the benchmark's server names; by default the step in
latency and the sliding window (`step,sliding50`), where the limit has most to tell, or every
server when the results hold neither.

Needs matplotlib (`benches/bench.py` installs it into `target/bench/venv` when missing).
"""

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> int:
    data = json.loads(open(sys.argv[1]).read())
    wanted = (sys.argv[3] if len(sys.argv) > 3 else "step,sliding50").split(",")
    servers = [data["servers"][k] for k in wanted if data["servers"].get(k, {}).get("trace")]
    if not servers:
        servers = [s for s in data["servers"].values() if s.get("trace")]
    fig, axes = plt.subplots(len(servers), 1, figsize=(9, 3.2 * len(servers)), squeeze=False)
    for ax, server in zip(axes[:, 0], servers):
        trace = server["trace"]
        steps = trace["in_flight"]
        if steps:
            ax.step([t for t, _ in steps], [n for _, n in steps], where="post", color="tab:blue",
                    linewidth=0.6, alpha=0.7, label="in flight at the server")
        points = trace["roster"]
        ax.step([p["at"] for p in points], [p["limit"] for p in points], where="post", color="tab:green",
                linewidth=1.6, label="roster's limit")
        ax.set_ylabel("requests in flight")
        ax.set_xlabel("seconds since apply began")
        d = server["variants"]["defaults"]
        ax.set_title(f"{server['title']}: the defaults' first run (median {d['wall_s']:.2f} s, {d['share_429']:.1%} answered 429)",
                     fontsize=10, loc="left")
        ax.set_ylim(bottom=0)
        right = ax.twinx()
        latency = [(p["at"], p["latency_ms"]) for p in points if not math.isnan(p["latency_ms"])]
        right.plot([t for t, _ in latency], [ms for _, ms in latency], color="tab:red", linewidth=0.9,
                   marker=".", markersize=2, label="latency (window mean)")
        base = [(p["at"], p["base_ms"]) for p in points if not math.isnan(p["base_ms"])]
        right.step([t for t, _ in base], [ms for _, ms in base], where="post", color="tab:orange",
                   linewidth=0.9, linestyle="--", label="base latency")
        right.set_ylabel("latency, ms", color="tab:red")
        right.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
