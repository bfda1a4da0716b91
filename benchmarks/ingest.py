"""Ingest throughput and peak memory on an r4.2-like http.csv, beside a plain polars parse.

    python benchmarks/ingest.py --rows 2000000 [--dir /tmp/nw-bench] [--seed 0]

Writes a fake r4.2-format release (http.csv with ROWS rows of r4.2-like width, ~500 bytes per
row like the real 14 GB file; the other four logs header-only), then, each in a fresh child
process so that peak RSS is measured per run (the child's VmHWM):
  * `ingest` (neighborwatch prepare's ingestion: parse, validate, derive, sort, write),
  * `polars.read_csv` of the whole file (the parser alone, everything in memory),
  * `polars.scan_csv(...).select(5 columns).collect(engine="streaming")`.
Each is run at ROWS and ROWS/4 to show whether peak memory grows with the file.
The fake rows are generated here (the synthetic organisation generator makes whole
organisations, not one log at this scale); no real CERT rows are used.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from _machine import machine  # noqa: E402  (benchmarks/ sibling)

R4_HEADERS = {
    "logon": "id,date,user,pc,activity",
    "device": "id,date,user,pc,activity",
    "file": "id,date,user,pc,filename,content",
    "email": "id,date,user,pc,to,cc,bcc,from,size,attachments,content",
}
WORDS = (
    "remain representatives consensus concert although connect component collaborated mind sea "
    "decision mixture festival northwards congestion partnership married acquired landed strait "
    "display channel boats difficulty august south roads added prevent march first large during "
    "overall nonexistent threw authors leadership rather upper expedition survey again"
).split()
DOMAINS = [
    "msn.com",
    "urbanspoon.com",
    "aa.com",
    "nymag.com",
    "hubspot.com",
    "linkedin.com",
    "wikipedia.org",
    "espn.go.com",
    "bbc.co.uk",
    "yahoo.com",
    "careerbuilder.com",
    "boeing.com",
]


def _letters(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.integers(65, 91, size=(n, k), dtype=np.uint8)


def _digits(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.integers(48, 58, size=(n, k), dtype=np.uint8)


def fake_ids(rng: np.random.Generator, n: int) -> list[str]:
    """CERT-shaped ids `{X1D9-S0ES98JV-5357PWMI}` (random, invented)."""
    L, D = (lambda k: _letters(rng, n, k)), (lambda k: _digits(rng, n, k))
    b = lambda c: np.full((n, 1), ord(c), dtype=np.uint8)  # noqa: E731
    parts = [b("{"), L(1), D(1), L(1), D(1), b("-"), L(1), D(1), L(2), D(2), L(2), b("-"), D(4), L(4), b("}")]
    arr = np.ascontiguousarray(np.concatenate(parts, axis=1))
    return arr.view(f"S{arr.shape[1]}").ravel().astype(str).tolist()


def write_fake_http(path: Path, rows: int, seed: int) -> None:
    """r4.2-like http.csv: sorted dates over 17 months, 1,000 users, ~500 bytes per row."""
    rng = np.random.default_rng(seed)
    pool = 20_000
    urls = [
        f"http://{DOMAINS[rng.integers(len(DOMAINS))]}/{'_'.join(rng.choice(WORDS, 3))}/"
        f"{rng.choice(WORDS)}/{''.join(rng.choice(list('abcdefghijklmnopqrstuvwxyz'), 40))}{rng.integers(1e9)}.htm"
        for _ in range(pool)
    ]
    contents = [" ".join(rng.choice(WORDS, 45)) for _ in range(pool)]
    users = [f"{''.join(rng.choice(list('ABCDEFGHIJKLMNOPQRSTUVWXYZ'), 3))}{i:04d}" for i in range(1, 1001)]
    pcs = [f"PC-{rng.integers(10000):04d}" for _ in range(1000)]
    start = np.datetime64("2010-01-02T00:00:00")
    span_s = 17 * 30 * 86400
    chunk = 500_000
    with path.open("wb") as fh:
        fh.write(b"id,date,user,pc,url,content\n")
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            secs = np.sort(rng.integers(done * span_s // rows, (done + n) * span_s // rows, size=n))
            u = rng.integers(1000, size=n)
            df = pl.DataFrame(
                {
                    "id": fake_ids(rng, n),
                    "date": (start + secs.astype("timedelta64[s]")).astype("datetime64[us]"),
                    "user": np.asarray(users)[u],
                    "pc": np.asarray(pcs)[u],
                    "url": np.asarray(urls)[rng.integers(pool, size=n)],
                    "content": np.asarray(contents)[rng.integers(pool, size=n)],
                }
            ).with_columns(pl.col("date").dt.strftime("%m/%d/%Y %H:%M:%S"))
            df.write_csv(fh, include_header=False)
            done += n


def make_release(root: Path, rows: int, seed: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for source, header in R4_HEADERS.items():
        (root / f"{source}.csv").write_text(header + "\n")
    write_fake_http(root / "http.csv", rows, seed)
    return root


JOBS = {
    "ingest": (
        "import os; os.environ['NEIGHBORWATCH_PROGRESS']='0';"
        "from neighborwatch.data.prepare import ingest; import contextlib, io;"
        "f = io.StringIO();\n"
        "with contextlib.redirect_stdout(f): ingest({src!r}, {work!r})"
    ),
    "polars.read_csv": "import polars as pl; df = pl.read_csv({http!r}); assert df.height > 0",
    "polars.scan_csv(5 cols, streaming)": (
        "import polars as pl; df = pl.scan_csv({http!r}).select('id','date','user','pc','url')"
        ".collect(engine='streaming'); assert df.height > 0"
    ),
}


# Peak RSS of the child's own address space. ru_maxrss of a child is not enough on Linux: it
# inherits the high-water mark of the parent's memory at fork/exec (this parent holds the
# generator's arrays), whereas VmHWM belongs to the new process image only.
_PEAK = "\nprint('VMHWM_KB', open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"


def run_child(code: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one fresh Python process running `code`."""
    linux = Path("/proc/self/status").exists()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code + (_PEAK if linux else "")], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    if linux:
        kb = int(out.decode().split("VMHWM_KB")[-1].split()[0])
    else:  # pragma: no cover - best effort elsewhere
        import resource

        kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, kb / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="http.csv data rows (r4.2 has 28.4 M)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nw-bench-ingest"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-small", action="store_true", help="skip the ROWS/4 run")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    sizes = [args.rows] if args.no_small else [args.rows // 4, args.rows]
    results: list[tuple[int, str, float, float, float]] = []
    for rows in sizes:
        src = args.dir / f"r4-{rows}"
        http = src / "http.csv"
        if not http.exists():
            t = time.perf_counter()
            make_release(src, rows, args.seed)
            print(
                f"generated {http} ({http.stat().st_size / 1e6:.0f} MB, {rows:,} rows) "
                f"in {time.perf_counter() - t:.1f} s"
            )
        work = args.dir / f"work-{rows}"
        for name, template in JOBS.items():
            wall, rss = run_child(template.format(src=str(src), work=str(work), http=str(http)))
            results.append((rows, name, wall, rss, http.stat().st_size / 1e6))
            print(
                f"  {rows:>11,} rows  {name:<36} {wall:7.1f} s  {rows / wall:>11,.0f} events/s  peak RSS {rss:7.0f} MiB"
            )
    print()
    print(f"{'rows':>11}  {'job':<36} {'s':>7} {'events/s':>11} {'MB/s':>7} {'peak MiB':>9}")
    for rows, name, wall, rss, mb in results:
        print(f"{rows:>11,}  {name:<36} {wall:7.1f} {rows / wall:>11,.0f} {mb / wall:>7.0f} {rss:>9.0f}")
    big = {name: (wall, rss) for rows, name, wall, rss, _ in results if rows == sizes[-1]}
    iw, im = big["ingest"]
    for ref in ("polars.read_csv", "polars.scan_csv(5 cols, streaming)"):
        pw, pm = big[ref]
        print(f"ratio ingest / {ref}: time {iw / pw:.2f}x, peak memory {im / pm:.2f}x")
    if len(sizes) > 1:
        small = {name: rss for rows, name, _, rss, _ in results if rows == sizes[0]}
        for name in JOBS:
            print(
                f"peak memory growth {sizes[0]:,} → {sizes[-1]:,} rows, {name}: "
                f"{small[name]:.0f} → {big[name][1]:.0f} MiB"
            )


if __name__ == "__main__":
    main()
