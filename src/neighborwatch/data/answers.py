"""Ground truth from a CERT `answers/` folder: which event ids are malicious, in which scenario.

Answer files are not proper CSV: no header, rows of different lengths (`type,<log row>`, with an
extra label column from r5 on), r6 rows quoted field by field. Only column 0 (type) and column 1
(the event `id`, the join key) are trusted; date/user/pc (columns 2–4) are kept for reporting.
Everything after `pc` is ignored on purpose (its layout varies). `insiders.csv` maps each answer
file to its dataset, scenario and insider; its dates have quirks that are repaired here.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from neighborwatch.data.quarantine import Quarantine
from neighborwatch.data.schema import SOURCES, DType

ANSWER_TIME_FORMAT = "%m/%d/%Y %H:%M:%S"
# r4.2-1-AAM0658.csv (per insider, in a folder) or r6.2-1.csv / r2.csv (flat, per scenario)
_PER_INSIDER = re.compile(r"^r(\d+(?:\.\d+)?)-(\d+)-([A-Za-z]{3}\d{4})\.csv$")
_PER_SCENARIO = re.compile(r"^r(\d+(?:\.\d+)?)(?:-(\d+))?\.csv$")

ANSWER_ROW_SCHEMA: dict[str, DType] = {
    "event_id": pl.Utf8,
    "type": pl.Utf8,
    "time": pl.Datetime("us"),
    "user": pl.Utf8,
    "pc": pl.Utf8,
    "dataset": pl.Utf8,
    "scenario": pl.Int8,
    "insider": pl.Utf8,
    "file": pl.Utf8,
    "line": pl.Int64,
}


@dataclass
class AnswerFile:
    path: Path
    dataset: str  # "4.2"
    scenario: int | None
    insider: str | None  # from the file name; flat files name none


def parse_time(text: str) -> datetime | None:
    """CERT `MM/DD/YYYY HH:MM:SS`, also unpadded (`3/6/2010 1:41:56`); None when broken."""
    try:
        return datetime.strptime(text.strip(), ANSWER_TIME_FORMAT)
    except ValueError:
        return None


def find_answer_files(answers: Path) -> list[AnswerFile]:
    """Every answer file under `answers/` (per-insider folders and flat files), sorted by path."""
    found: list[AnswerFile] = []
    paths = [Path(d) / f for d, _, fs in os.walk(answers, followlinks=True) for f in fs if f.endswith(".csv")]
    for path in sorted(paths):
        if path.name == "insiders.csv":
            continue
        m = _PER_INSIDER.match(path.name)
        if m:
            found.append(AnswerFile(path, m.group(1), int(m.group(2)), m.group(3).upper()))
            continue
        m = _PER_SCENARIO.match(path.name)
        if m:
            found.append(AnswerFile(path, m.group(1), int(m.group(2)) if m.group(2) else None, None))
    return found


def read_answer_rows(af: AnswerFile, quarantine: Quarantine, root: Path) -> list[dict]:
    """The rows of one answer file; rows without a known type or an id are quarantined."""
    label = str(af.path.relative_to(root))
    rows: list[dict] = []
    with af.path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        for fields in reader:
            line = reader.line_num
            if not fields or not any(f.strip() for f in fields):
                continue  # blank line: not a record
            kind = fields[0].strip().lower()
            if kind not in SOURCES:
                quarantine.add(label, line, f"unknown answer row type '{fields[0]}'", ",".join(fields))
                continue
            if len(fields) < 5 or not fields[1].strip():
                quarantine.add(label, line, f"answer row too short ({len(fields)} fields)", ",".join(fields))
                continue
            rows.append(
                {
                    "event_id": fields[1].strip(),
                    "type": kind,
                    "time": parse_time(fields[2]),
                    "user": fields[3].strip(),
                    "pc": fields[4].strip(),
                    "file": label,
                    "line": line,
                }
            )
    return rows


def read_insiders(answers: Path, quarantine: Quarantine) -> pl.DataFrame:
    """insiders.csv with `dataset` as a string and start/end parsed (null where broken)."""
    path = answers / "insiders.csv"
    schema: dict[str, DType] = {
        "dataset": pl.Utf8,
        "scenario": pl.Int8,
        "details": pl.Utf8,
        "user": pl.Utf8,
        "start_raw": pl.Utf8,
        "end_raw": pl.Utf8,
        "start": pl.Datetime("us"),
        "end": pl.Datetime("us"),
    }
    if not path.exists():
        return pl.DataFrame(schema=schema)
    rows = []
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        for rec in reader:
            try:
                scenario = int(str(rec.get("scenario", "")).strip())
            except ValueError:
                quarantine.add(
                    "answers/insiders.csv", reader.line_num, "bad scenario", ",".join(map(str, rec.values()))
                )
                continue
            start_raw, end_raw = (rec.get("start") or "").strip(), (rec.get("end") or "").strip()
            rows.append(
                {
                    "dataset": (rec.get("dataset") or "").strip(),
                    "scenario": scenario,
                    "details": (rec.get("details") or "").strip(),
                    "user": (rec.get("user") or "").strip(),
                    "start_raw": start_raw,
                    "end_raw": end_raw,
                    "start": parse_time(start_raw),
                    "end": parse_time(end_raw),
                }
            )
    return pl.DataFrame(rows, schema=schema, orient="row")


def load_answers(
    answers: Path, family: str | None, quarantine: Quarantine, datasets: list[str] | None = None
) -> tuple[pl.DataFrame, dict]:
    """Answer rows of the datasets matching the release family (e.g. r4 → 4.1, 4.2).

    Returns (one row per answer row: ANSWER_ROW_SCHEMA, info for the summary). The insider of a
    row is the insider of its answer file, also when the row's `user` is someone else (r4.2-3
    acting as the supervisor, r6.2-3 recipients): those events are still malicious.
    """
    answers = Path(answers)
    files = find_answer_files(answers)
    major = family[1:] if family and family.startswith("r") else None
    if datasets is None:
        datasets = sorted({f.dataset for f in files if major is None or f.dataset.split(".")[0] == major})
    files = [f for f in files if f.dataset in datasets]
    insiders = read_insiders(answers, quarantine).filter(pl.col("dataset").is_in(datasets))
    by_file = {r["details"]: r for r in insiders.iter_rows(named=True)}
    root = answers.parent
    out: list[dict] = []
    repaired: list[dict] = []
    unlisted: list[str] = []
    insider_rows: list[dict] = []
    for af in files:
        rows = read_answer_rows(af, quarantine, root)
        meta = by_file.get(af.path.name)
        scenario = meta["scenario"] if meta else af.scenario
        insider = (meta["user"] if meta else None) or af.insider or (rows[0]["user"] if rows else None)
        if meta is None:
            unlisted.append(af.path.name)
        times = [r["time"] for r in rows if r["time"] is not None]
        start = meta["start"] if meta else None
        end = meta["end"] if meta else None
        # insiders.csv quirk: a corrupt date (`/21/2011`) → the first row of that answer file
        if meta and start is None and rows:
            start = rows[0]["time"]
            repaired.append({"file": af.path.name, "field": "start", "raw": meta["start_raw"], "used": str(start)})
        if meta and end is None and rows:
            end = rows[-1]["time"]
            repaired.append({"file": af.path.name, "field": "end", "raw": meta["end_raw"], "used": str(end)})
        insider_rows.append(
            {
                "dataset": af.dataset,
                "scenario": scenario,
                "insider": insider,
                "file": af.path.name,
                "start": str(start if start is not None else (min(times) if times else None)),
                "end": str(end if end is not None else (max(times) if times else None)),
                "rows": len(rows),
                "other_users": sorted({r["user"] for r in rows} - {insider}),
            }
        )
        for r in rows:
            out.append({**r, "dataset": af.dataset, "scenario": scenario, "insider": insider})
    df = pl.DataFrame(out, schema=ANSWER_ROW_SCHEMA, orient="row") if out else pl.DataFrame(schema=ANSWER_ROW_SCHEMA)
    info = {
        "datasets": datasets,
        "files": len(files),
        "rows": df.height,
        "insiders": insider_rows,
        "repaired_insider_dates": repaired,
        "files_not_in_insiders_csv": unlisted,
        "rows_of_other_users": int(df.filter(pl.col("user") != pl.col("insider")).height),
    }
    return df, info


def labels_from_answers(rows: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """LABEL_SCHEMA rows, one per event id (a row in two answer files is counted once).

    When the same id appears in several files, the file whose insider is the row's user wins,
    then the first file in path order (deterministic). Returns (labels, duplicate rows dropped).
    """
    ranked = (
        rows.with_row_index("_order")
        .with_columns(_own=(pl.col("user") != pl.col("insider")).cast(pl.Int8))
        .sort(["event_id", "_own", "_order"])
    )
    labels = (
        ranked.unique("event_id", keep="first", maintain_order=True)
        .sort("_order")
        .select("event_id", malicious=pl.lit(True), scenario=pl.col("scenario").cast(pl.Int8), insider="insider")
    )
    return labels, rows.height - labels.height
