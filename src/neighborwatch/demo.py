"""`neighborwatch demo`: the whole pipeline on a synthetic organisation, on a fresh machine.

synth → prepare → stats → train LAN → evaluate (→ live service with `--live`). Every stage writes
into one folder and prints the equivalent command, so a user can rerun any stage by hand.
`demo --live` on a folder that already holds a trained demo (same users and seed) goes straight
to the live step: minutes of retraining buy nothing when only the live service is wanted.

The demo trains the default preset (`quick`: the paper's LSTM 128, attention pooling,
weighted-cosine graph, 2-layer GCN and hybrid loss, with random neighbours and k = 5) cut to a
CPU-sized budget (DEMO_TRAINING: 3 epochs, a sample cap), because the paper's lr 1e-5
under-trains in a few epochs on a small organisation (see the closing notes of the LAN issue for
measurements).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neighborwatch.progress import console

DEMO_TRAINING: dict[str, Any] = {
    "mode": "fast",
    "lr": 1e-3,
    "epochs": 3,
    "patience": 2,
    "batch_size": 256,
    "max_train_samples": 12_000,
    "max_pool": 20_000,
    "length_buckets": 50,
    "threads": 1,
}


def _command(*parts: object) -> None:
    console.print("$ neighborwatch " + " ".join(str(p) for p in parts), style="dim", markup=False)


def trained_demo(out: Path, users: int, seed: int) -> bool:
    """Whether `out` holds a finished demo run with these settings (model and metrics written)."""
    import json

    out = Path(out)
    try:
        manifest = json.loads((out / "raw" / "synth_manifest.json").read_text())
    except (OSError, ValueError):
        return False
    same = manifest.get("users") == users and manifest.get("seed") == seed
    return same and (out / "model" / "detector.json").exists() and (out / "metrics.json").exists()


def run_demo(
    out: Path, users: int = 60, seed: int = 0, live: bool = False, keep_serving: bool = False, retrain: bool = False
) -> dict[str, Any]:
    out = Path(out)
    if live and not retrain and trained_demo(out, users, seed):
        from neighborwatch.live_demo import run_live_demo

        console.rule("[bold]live: reusing the trained demo in " + str(out) + " (--retrain to start over)")
        _command(
            "serve",
            out / "model",
            "--work",
            out / "work",
            "&  neighborwatch replay",
            out / "work",
            "--to http://127.0.0.1:PORT",
        )
        return {
            "live": run_live_demo(out / "model", out / "work", keep_running=keep_serving),
            "work": str(out / "work"),
            "model": str(out / "model"),
            "reused": True,
        }
    from neighborwatch.data.synth import synthesize
    from neighborwatch.evaluation.evaluate import run_evaluate
    from neighborwatch.models.train_work import build_config, train_work
    from neighborwatch.pipeline import prepare_work
    from neighborwatch.sequences.stats import print_stats

    raw, work, model, report = out / "raw", out / "work", out / "model", out / "report"
    steps = 6 if live else 5

    console.rule(f"[bold]1/{steps} synthesize a CERT-format organisation with insiders")
    _command("synth --release r4.2 --users", users, "--seed", seed, "--out", raw)
    manifest = synthesize(release="r4.2", users=users, start="2010-01-02", end="2010-07-01", seed=seed, out=raw)

    console.rule(f"[bold]2/{steps} prepare: ingest, label, sessionize, tokenize, split")
    _command("prepare", raw, "--out", work)
    summary = prepare_work(raw, work)

    console.rule(f"[bold]3/{steps} dataset statistics")
    _command("stats", work)
    print_stats(work)

    console.rule(f"[bold]4/{steps} train LAN (validation period picks the epoch)")
    config = build_config(seed=seed, **DEMO_TRAINING)
    config_file = out / "lan-config.json"
    config.to_json(config_file)
    _command("train", work, "--out", model, "--config", config_file)
    trained = train_work(work, model, config)

    console.rule(f"[bold]5/{steps} evaluate on the test period (scored once)")
    _command("evaluate", work, model, "--json", out / "metrics.json", "--report", report)
    result = run_evaluate(work, model, json_path=out / "metrics.json", report_dir=report, console=console)
    console.print(f"\nHTML report: [bold]{(report / 'index.html').resolve()}[/bold]")

    live_summary = None
    if live:
        from neighborwatch.live_demo import run_live_demo

        console.rule(f"[bold]6/{steps} live: serve the model, replay the test period, raise alerts")
        _command("serve", model, "--work", work, "&  neighborwatch replay", work, "--to http://127.0.0.1:PORT")
        live_summary = run_live_demo(model, work, keep_running=keep_serving)
    return {
        "manifest": manifest,
        "summary": summary,
        "train": trained,
        "metrics": result,
        "live": live_summary,
        "work": str(work),
        "model": str(model),
    }
