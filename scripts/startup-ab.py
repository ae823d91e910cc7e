#!/usr/bin/env python3
"""Startup time and memory of two (or more) mcpgate builds on one big store,
in one run, alternating, so the machine's noise hits every build alike.

    cargo run --release -p mcpgate-bench -- --seed-store /tmp/seed   # prints the key
    MCPGATE_SECRET_KEY=<key> scripts/startup-ab.py /tmp/seed CONFIG NAME=BINARY NAME=BINARY [--runs 4]

Each start gets a fresh copy of the seeded data directory. Prints, per build,
the median time from spawn to the first /readyz 200 (and every run) and the
median RSS one second after ready.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(binary: str, seed: str, config: str) -> tuple[float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "data")
        shutil.copytree(seed, data)
        env = dict(os.environ, MCPGATE_ADMIN_TOKEN="startup-ab-admin-token", RUST_LOG="warn")
        started = time.monotonic()
        proc = subprocess.Popen(
            [binary, "serve", "--config", config, "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            while True:
                if proc.poll() is not None:
                    sys.exit(f"{binary} exited: {proc.stderr.read().decode()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                time.sleep(0.005)
            ready = time.monotonic() - started
            time.sleep(1.0)
            with open(f"/proc/{proc.pid}/status") as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
        finally:
            proc.terminate()
            proc.wait()
    return ready, rss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("seed")
    p.add_argument("config")
    p.add_argument("builds", nargs="+", metavar="NAME=BINARY")
    p.add_argument("--runs", type=int, default=4)
    args = p.parse_args()
    if "MCPGATE_SECRET_KEY" not in os.environ:
        sys.exit("set MCPGATE_SECRET_KEY to the key --seed-store printed")
    builds = [b.split("=", 1) for b in args.builds]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in builds}
    for _ in range(args.runs):
        for name, binary in builds:
            results[name].append(one_start(binary, args.seed, args.config))
    print("| build | startup median (runs) | RSS median |")
    print("|---|---|---|")
    for name, runs in results.items():
        times = sorted(r[0] * 1000 for r in runs)
        rss = sorted(r[1] for r in runs)
        shown = ", ".join(f"{t:.0f}" for t in times)
        print(f"| {name} | {times[len(times) // 2]:.0f} ms ({shown}) | {rss[len(rss) // 2]:.1f} MiB |")


main()
