"""`neighborwatch demo`: the whole pipeline on a synthetic organisation, on a fresh machine.

synth → prepare → stats. Every stage writes into one folder, so the user can rerun any single
stage by hand afterwards with the commands the demo prints.
"""

from __future__ import annotations

from pathlib import Path

from neighborwatch.progress import console


def run_demo(out: Path, users: int = 60, seed: int = 0) -> dict:
    from neighborwatch.data.synth import synthesize
    from neighborwatch.pipeline import prepare_work
    from neighborwatch.sequences.stats import print_stats

    out = Path(out)
    raw, work = out / "raw", out / "work"
    console.rule("[bold]1/3 synthesize a CERT-format organisation")
    console.print(f"$ neighborwatch synth --release r4.2 --users {users} --seed {seed} --out {raw}")
    manifest = synthesize(release="r4.2", users=users, start="2010-01-02", end="2010-07-01", seed=seed, out=raw)
    console.rule("[bold]2/3 prepare (ingest, label, sessionize, tokenize, split)")
    console.print(f"$ neighborwatch prepare {raw} --out {work}")
    summary = prepare_work(raw, work)
    console.rule("[bold]3/3 dataset statistics")
    console.print(f"$ neighborwatch stats {work}")
    print_stats(work)
    return {"manifest": manifest, "summary": summary, "work": str(work)}
