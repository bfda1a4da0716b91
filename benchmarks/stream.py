"""Live-scoring throughput and latency of the streaming engine, vs re-encoding every prefix.

    python benchmarks/stream.py [--model DIR] [--events 40000] [--sessions 2000] [--threads 1] [--workers 2]
                                [--no-user-history]

Without --model, a LAN with the paper's shape (embedding 128, 2-layer LSTM 128, 8-head
last-position attention, k = 15, 4 perspectives, 2 GCN layers, 169 classes) is built with
untrained weights and a pool of `--pool` random vectors behind the same FAISS index type
training would build (HNSW above 20 000 prefixes): the arithmetic per event is that of a trained
model. Events are generated for `--sessions` concurrent (user, PC) sessions, interleaved in time;
each user gets a synthetic training history (`--no-user-history`: the paper's LAN, which never
sees the acting user).

Open-loop load: events get arrival times at the offered rate; the engine takes whatever has
arrived (up to --batch) as one micro-batch; latency = scored time − arrival time. "max" offers
everything at once (throughput ceiling). The ordering window is 0 here (it adds a deliberate
wait, set by the operator).

Scale-out: the events are partitioned by user (as the Redis stream is) over `--workers` worker
processes, each with its own engine and model, started together: latency at each offered load
(each worker offered its share), and the ceiling, all events over the slowest worker's wall time
(the last line). With retrieved neighbours, recall@(k−1) of the
model's index (HNSW above 20 000 prefixes) against exact search is measured on the prefixes of
another toy set than the pool's.

The authors' approach, on the same events: for every event, encode its whole prefix and its
k−1 neighbours' prefixes from tokens (15 sequences), pool, graph head — event by event, as a
real-time loop without carried state must.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from _machine import machine  # noqa: E402  (benchmarks/ sibling)


def synthetic_lan(pool: int, seed: int, neighbours: str = "retrieved", k: int = 15, attention_window: int = 0):
    """Paper-shaped LAN, untrained, whose pool holds the model's own pooled vectors of `pool`
    distinct prefixes of structured toy sessions (random vectors would be the worst case for
    HNSW, which real, clustered prefix vectors are not)."""
    from neighborwatch.models.lan.detector import LAN
    from neighborwatch.models.lan.retrieval import NeighbourIndex, select_pool
    from neighborwatch.models.lan.scoring import prefix_vectors
    from neighborwatch.sequences.toy import toy_split

    det = LAN(
        device="cpu",
        seed=seed,
        neighbours=neighbours,
        k=1 if neighbours == "none" else k,
        attention_window=attention_window,
    )
    det.model.eval()
    rng = np.random.default_rng(seed)
    seqs, _ = toy_split(max(100, pool // 3), 0.0, rng, "train", 0)
    chosen = select_pool(seqs, np.zeros(seqs.n_activities, bool), max_pool=pool, seed=seed)
    chosen.vectors = prefix_vectors(det.model, seqs, chosen.ends, det.device)
    det.pool = chosen
    det.index = NeighbourIndex(
        chosen.vectors, chosen.hashes, det.config.exact_below, det.config.hnsw_m, det.config.hnsw_ef_search
    )
    return det


def synthetic_events(n: int, sessions: int, seed: int):
    """LiveEvents: `sessions` users each on one PC, Logon first, then office activity."""
    from neighborwatch.streaming.events import LiveEvent

    rng = np.random.default_rng(seed)
    kinds = [
        ("email", "Send"),
        ("http", "WWW Visit"),
        ("file", "File Open"),
        ("device", "Connect"),
        ("device", "Disconnect"),
        ("http", "WWW Visit"),
    ]
    base = 1_262_592_000 * 1_000_000 + 8 * 3600 * 1_000_000  # 2010-01-04 08:00
    t = base + np.sort(rng.integers(0, 9 * 3600 * 1_000_000, n))
    users = rng.integers(0, sessions, n)
    started = np.zeros(sessions, bool)
    out = []
    for i in range(n):
        u = int(users[i])
        if not started[u]:
            src, act = "logon", "Logon"
            started[u] = True
        else:
            src, act = kinds[int(rng.integers(0, len(kinds)))]
        out.append(LiveEvent(f"E{i:08d}", int(t[i]), f"U{u:05d}", f"PC-{u:05d}", src, act))
    return out


def engine_for(det, cache: int = 50_000):
    from neighborwatch.models.lan.stream_scorer import LANStreamScorer
    from neighborwatch.sequences.tokenize import WordHourTokenizer
    from neighborwatch.streaming.alerts import Thresholds
    from neighborwatch.streaming.collector import settle_for_streaming
    from neighborwatch.streaming.engine import Engine, EngineConfig

    settle_for_streaming()  # as `serve` does once its worker is built
    tok = WordHourTokenizer()
    cfg = EngineConfig(window_s=0.0, max_hold_s=0.0, collapse=False)
    return Engine(LANStreamScorer(det, capacity=4096, cache_size=cache), tok.transform, tok.decode, Thresholds(), cfg)


def run_load(det, events, rate: float | None, batch: int, cache: int = 50_000) -> dict:
    """Open-loop run at `rate` events/s (None = all at once)."""
    import copy

    eng = engine_for(det, cache)
    evs = [copy.copy(e) for e in events]
    n = len(evs)
    arrive = np.zeros(n) if rate is None else np.arange(n) / rate
    lat = np.empty(n)
    t0 = time.perf_counter()
    i = 0
    while i < n:
        now = time.perf_counter() - t0
        if arrive[i] > now:
            time.sleep(min(arrive[i] - now, 0.001))
            continue
        j = i
        while j < n and j - i < batch and arrive[j] <= now:
            j += 1
        eng.submit(evs[i:j], now=1e18)  # max_hold 0: released at once
        done = time.perf_counter() - t0
        lat[i:j] = done - arrive[i:j]
        i = j
    wall = time.perf_counter() - t0
    sc = eng.scorer
    hit = sc.cache_hits / max(1, sc.cache_hits + sc.cache_misses)
    stages = dict(sc.seconds, engine=wall - sum(sc.seconds.values()))
    return {
        "offered": "max" if rate is None else int(rate),
        "events_per_s": n / wall,
        "cache_hit": hit,
        "stages": {k: v / wall for k, v in stages.items()},
        "p50_ms": 1e3 * float(np.percentile(lat, 50)),
        "p99_ms": 1e3 * float(np.percentile(lat, 99)),
        "latencies_s": lat,
    }


def _partition_worker(part: int, parts: int, args: argparse.Namespace, rate: float | None, barrier, results) -> None:
    """One worker process of a partitioned deployment: its own engine over the events of the users
    that hash to its partition (as a Redis stream partitioned by user), started with the others,
    offered its share of `rate` (None: everything at once, the ceiling)."""
    torch.set_num_threads(1)  # (NEIGHBORWATCH_PROGRESS=0 is inherited from main's environment)
    det = build_model(args)
    events = synthetic_events(args.events, args.sessions, args.seed)
    mine = [e for e in events if int(e.user[1:]) % parts == part]
    run_load(det, mine[:2000], None, args.batch)  # warm-up
    barrier.wait()
    r = run_load(det, mine, None if rate is None else rate * len(mine) / len(events), args.batch)
    results.put({"part": part, "events": len(mine), "wall_s": len(mine) / r["events_per_s"], **r})


def partitioned(args: argparse.Namespace, parts: int, rate: float | None = None) -> dict:
    """`parts` worker processes run side by side, offered `rate` events/s in all (None: the
    ceiling, all events / slowest wall); latency percentiles over every worker's events."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(parts), ctx.Queue()
    procs = [ctx.Process(target=_partition_worker, args=(i, parts, args, rate, barrier, results)) for i in range(parts)]
    for pr in procs:
        pr.start()
    rows = [results.get(timeout=1800) for _ in procs]
    for pr in procs:
        pr.join()
    total = sum(r["events"] for r in rows)
    lat = np.concatenate([r.pop("latencies_s") for r in rows])
    return {
        "workers": parts,
        "events_per_s": total / max(r["wall_s"] for r in rows),
        "p50_ms": 1e3 * float(np.percentile(lat, 50)),
        "p99_ms": 1e3 * float(np.percentile(lat, 99)),
        "rows": rows,
    }


def recall_at_k(det, n: int, queries: int, seed: int) -> float | None:
    """Recall@n of the model's neighbour index against exact inner-product search, on the pooled
    vectors of prefixes of another toy set than the pool's (None: the index is exact already)."""
    import faiss

    from neighborwatch.models.lan.retrieval import _normalise
    from neighborwatch.models.lan.scoring import prefix_vectors
    from neighborwatch.sequences.toy import toy_split

    if det.index.exact:
        return None
    seqs, _ = toy_split(max(100, queries // 3), 0.0, np.random.default_rng(seed + 1), "train", 0)
    count = min(queries, seqs.n_activities)  # ends: flat positions of the prefixes' last activities
    ends = np.sort(np.random.default_rng(seed).choice(seqs.n_activities, count, replace=False))
    q = _normalise(prefix_vectors(det.model, seqs, ends, det.device))
    exact = faiss.IndexFlatIP(q.shape[1])
    exact.add(_normalise(det.pool.vectors))
    _, want = exact.search(q, n)
    _, got = det.index.index.search(q, n)
    return float(np.mean([len(set(a) & set(b)) / n for a, b in zip(want, got)]))


def synthetic_history(sessions: int, vocab: int, seed: int, distinct: int = 60):
    """A `UserHistory` for the benchmark's users U00000.. : each with `distinct` tokens of its
    own (geometric counts), so that conditioning on the user does the per-event work of a real
    organisation (one scatter of the user's entries), not the no-history shortcut."""
    from neighborwatch.models.user_history import UserHistory

    rng = np.random.default_rng(seed)
    users = np.array([f"U{u:05d}" for u in range(sessions)])
    tokens = np.sort(np.stack([rng.choice(np.arange(1, vocab), distinct, replace=False) for _ in users]), axis=1)
    codes = (np.arange(sessions)[:, None] * vocab + tokens).ravel().astype(np.int64)
    counts = rng.geometric(0.05, codes.size).astype(np.int64)
    totals = counts.reshape(sessions, distinct).sum(axis=1)
    return UserHistory(users, codes, counts, totals, np.bincount(tokens.ravel(), counts, vocab).astype(np.int64))


def build_model(args: argparse.Namespace):
    if args.model:
        from neighborwatch.models.registry import load_detector

        return load_detector(args.model)
    det = synthetic_lan(args.pool, args.seed, args.neighbours, args.k, args.attention_window)
    if args.user_history:
        det.config.user_history = True
        det.user_history = synthetic_history(args.sessions, det.config.vocab_size, args.seed)
    return det


@torch.inference_mode()
def authors_approach(det, events, limit: int) -> dict:
    """Re-encode the prefix and the k−1 neighbours' prefixes from tokens for every event."""
    import polars as pl

    from neighborwatch.models.lan.scoring import neighbour_ids
    from neighborwatch.sequences.tokenize import WordHourTokenizer
    from neighborwatch.streaming.engine import Engine  # noqa: F401 — same tokenization path

    tok = WordHourTokenizer()
    model, cfg = det.model, det.config
    search_cfg = cfg.replace(neighbours="retrieved")  # the authors retrieve (random ones need no search)
    rng = np.random.default_rng(0)
    pool_tokens = [rng.integers(1, cfg.vocab_size, int(l)) for l in det.pool.lengths]  # stand-in prefixes
    df = pl.DataFrame(
        {"source": [e.source for e in events], "action": [e.action for e in events], "time": [e.time for e in events]}
    )
    tokens = tok.transform(df)
    history: dict[str, list[int]] = {}
    lat = []
    t0 = time.perf_counter()
    for e, token in zip(events, tokens):
        s = time.perf_counter()
        prefix = history.setdefault(e.user, [])
        if prefix:
            x = torch.tensor([prefix])
            q = model.encode_prefixes(x, torch.tensor([len(prefix)])).numpy()
            ids = neighbour_ids(det.index, q, None, search_cfg)[0]
            seqs = [pool_tokens[i] for i in ids]
            t = max(len(p) for p in seqs)
            pad = np.zeros((len(seqs), t), np.int64)
            for r, p in enumerate(seqs):
                pad[r, : len(p)] = p
            nb = model.encode_prefixes(torch.from_numpy(pad), torch.tensor([len(p) for p in seqs]))
            probs = torch.softmax(model.head(torch.from_numpy(q), nb[None]).logits, -1)
            _ = 1.0 - float(probs[0, int(token)])
            lat.append(time.perf_counter() - s)
        prefix.append(int(token))
        if len(lat) >= limit:
            break
    wall = time.perf_counter() - t0
    return {
        "events_per_s": len(lat) / wall,
        "p50_ms": 1e3 * float(np.percentile(lat, 50)),
        "p99_ms": 1e3 * float(np.percentile(lat, 99)),
        "events": len(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="saved LAN folder (default: paper-shaped synthetic model)")
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--sessions", type=int, default=2_000)
    ap.add_argument("--pool", type=int, default=50_000, help="pool prefixes of the synthetic model")
    ap.add_argument("--batch", type=int, default=2048, help="max events per micro-batch")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch + faiss threads (1 avoids OpenMP contention on small shared machines)",
    )
    ap.add_argument("--loads", default="1000,5000,20000,max", help="offered events/s, comma-separated")
    ap.add_argument("--authors-events", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the partitioned ceiling")
    ap.add_argument("--k", type=int, default=15, help="synthetic model: graph nodes (query + k-1 neighbours)")
    ap.add_argument(
        "--attention-window", type=int, default=0, help="synthetic model: attend to the last W activities (0 = all)"
    )
    ap.add_argument("--recall-queries", type=int, default=2000, help="queries of the recall@k check")
    ap.add_argument(
        "--user-history",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="synthetic model: condition on the acting user's history (the quick preset's default)",
    )
    ap.add_argument(
        "--neighbours", default="retrieved", help="synthetic model: retrieved | random | none (the ablation switch)"
    )
    args = ap.parse_args()
    os.environ.setdefault("NEIGHBORWATCH_PROGRESS", "0")
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    det = build_model(args)
    print(f"machine: {machine()}")
    c = det.config
    print(
        f"model: {c.encoder} {c.layers}x{c.hidden}, pooling {c.pooling} window {c.attention_window}, k={c.k} "
        f"({c.neighbours}), user history {'on' if det.user_history is not None else 'off'}, "
        f"pool {len(det.pool)} ({'exact' if det.index.exact else 'HNSW'}), vocab {c.vocab_size}"
    )
    events = synthetic_events(args.events, args.sessions, args.seed)
    print(
        f"events: {len(events)} over {args.sessions} concurrent sessions ({len(events) / args.sessions:.0f} per "
        + (
            f"session; attention over the last {c.attention_window} activities bounds the per-event cost"
            if c.attention_window
            else "session; whole-prefix attention: longer sessions cost more per event"
        )
        + f"); micro-batch ≤ {args.batch}"
    )
    run_load(det, events[:2000], None, args.batch)  # warm-up
    print(f"{'offered ev/s':>12} {'achieved ev/s':>14} {'p50 ms':>9} {'p99 ms':>9} {'cache hits':>10}")
    results = []
    for load in args.loads.split(","):
        rate = None if load.strip() == "max" else float(load)
        r = run_load(det, events, rate, args.batch)
        results.append(r)
        print(
            f"{r['offered']:>12} {r['events_per_s']:>14,.0f} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} {r['cache_hit']:>10.0%}"
        )
    top = results[-1]
    print(
        f"time share at offered {top['offered']}: "
        + ", ".join(f"{k} {v:.0%}" for k, v in top["stages"].items())
        + "  (search = FAISS, head = graph + GNN + softmax, pool = attention pooling, encode = LSTM step,"
        " engine = the rest: ordering, sessions, risk, records, and idle time below capacity)"
    )
    nc = run_load(det, events, None, args.batch, cache=0)
    print(f"{'max, no cache':>12} {nc['events_per_s']:>14,.0f} {nc['p50_ms']:>9.2f} {nc['p99_ms']:>9.2f}")
    one = run_load(det, events[:3000], None, 1)
    print(
        f"{'batch=1':>12} {one['events_per_s']:>14,.0f} {one['p50_ms']:>9.2f} {one['p99_ms']:>9.2f}"
        "   (incremental state, no micro-batching)"
    )
    a = authors_approach(det, events, args.authors_events)
    print(
        f"{'re-encode':>12} {a['events_per_s']:>14,.0f} {a['p50_ms']:>9.2f} {a['p99_ms']:>9.2f}"
        f"   (authors' approach: prefix + {c.k - 1} neighbours re-encoded per event, {a['events']} events)"
    )
    best = max(r["events_per_s"] for r in results)
    print(
        f"speed-up at the throughput ceiling: {best / a['events_per_s']:,.0f}x "
        f"(incremental, batch=1: {one['events_per_s'] / a['events_per_s']:,.1f}x)"
    )
    if c.neighbours != "retrieved":
        recall = "no search"
    elif (r := recall_at_k(det, c.k - 1, args.recall_queries, args.seed)) is None:
        recall = "exact index (1.0)"
    else:
        recall = f"{r:.3f} (HNSW M={c.hnsw_m}, efSearch={c.hnsw_ef_search}, {args.recall_queries} queries)"
    print(f"recall@{c.k - 1} of the index vs exact search: {recall}")
    if args.workers > 1:
        print(f"{'offered ev/s':>12} {'achieved ev/s':>14} {'p50 ms':>9} {'p99 ms':>9}   ({args.workers} workers)")
        for load in args.loads.split(","):
            if load.strip() != "max":
                r = partitioned(args, args.workers, float(load))
                print(f"{int(float(load)):>12} {r['events_per_s']:>14,.0f} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f}")
    ceilings = {}
    for parts in sorted({1, args.workers}):
        ceilings[parts] = partitioned(args, parts)
        per = ", ".join(f"{r['events']} events at {r['events_per_s']:,.0f}/s" for r in ceilings[parts]["rows"])
        print(
            f"{parts} worker process(es), events partitioned by user: {ceilings[parts]['events_per_s']:,.0f} events/s ({per})"
        )
    print(f"ceiling events/s with {args.workers} workers: {ceilings[args.workers]['events_per_s']:.0f}")


if __name__ == "__main__":
    main()
