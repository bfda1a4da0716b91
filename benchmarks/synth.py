"""Time, throughput and peak memory of `neighborwatch synth`.

    python benchmarks/synth.py [--release r4.2] [--users 100] [--start 2010-01-02] [--end 2010-07-01]
                               [--dir /tmp/nw-synth-bench] [--seed 0]

Runs `synthesize` in a fresh child process so that the peak RSS printed (the child's VmHWM) is
that of generation alone. Goal (issue 2): 100 users x 6 months in under a minute on 2 cores, and
flat memory at 1,000 users x 17 months (compare peak RSS at two lengths to see it does not grow).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine  # noqa: E402  (benchmarks/ sibling)

CHILD = """
import json, sys, time
from pathlib import Path
from neighborwatch.data.synth import synthesize
args = json.loads(sys.argv[1])
t = time.perf_counter()
m = synthesize(args["release"], args["users"], args["start"], args["end"], args["seed"], Path(args["dir"]))
wall = time.perf_counter() - t
peak = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1]) // 1024
print(json.dumps({"seconds": wall, "peak_mib": peak, "events": m["total_events"], "rows": m["rows"],
                  "insiders": len(m["insiders"]), "malicious": m["malicious_events"]}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--release", default="r4.2")
    p.add_argument("--users", type=int, default=100)
    p.add_argument("--start", default="2010-01-02")
    p.add_argument("--end", default="2010-07-01")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", default="/tmp/nw-synth-bench")
    a = p.parse_args()
    out = Path(a.dir)
    shutil.rmtree(out, ignore_errors=True)
    args = dict(release=a.release, users=a.users, start=a.start, end=a.end, seed=a.seed, dir=str(out))
    env = dict(os.environ, NEIGHBORWATCH_PROGRESS="0")
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env)
    if res.returncode:
        sys.exit(res.stderr)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"machine: {machine()}")
    print(
        f"synth {a.release} {a.users} users {a.start}..{a.end}: {r['events']:,} events in {r['seconds']:.1f} s "
        f"({r['events'] / r['seconds']:,.0f} events/s), peak RSS {r['peak_mib']} MiB, "
        f"{size / 2**20:,.0f} MiB on disk, {r['insiders']} insiders, {r['malicious']} malicious events"
    )
    print(f"rows: {r['rows']}  (process wall incl. start-up {time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
