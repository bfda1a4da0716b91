"""The organisation behind a CERT release: LDAP monthly snapshots + psychometric → one users table.

Each `LDAP/YYYY-MM.csv` lists the employees active at that month's end, so a user's last
snapshot tells when they left: a user missing from a later snapshot left during the month after
the last one that lists them (`left` = first day of that month; the day is not in LDAP).
Attributes come from the user's last snapshot. Spellings are kept as generated (no "fixing").
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl

from neighborwatch.data.csvstream import EmptyFileError, read_small_csv
from neighborwatch.data.quarantine import Quarantine
from neighborwatch.data.schema import DType

LDAP_COLUMNS = {
    "employee_name": "name",
    "user_id": "user",
    "email": "email",
    "role": "role",
    "projects": "projects",
    "business_unit": "business_unit",
    "functional_unit": "functional_unit",
    "department": "department",
    "team": "team",
    "supervisor": "supervisor",
}
BIG_FIVE = ["O", "C", "E", "A", "N"]
USERS_SCHEMA: dict[str, DType] = {
    "user": pl.Utf8,
    "name": pl.Utf8,
    "email": pl.Utf8,
    "role": pl.Utf8,
    "projects": pl.Utf8,
    "business_unit": pl.Utf8,
    "functional_unit": pl.Utf8,
    "department": pl.Utf8,
    "team": pl.Utf8,
    "supervisor": pl.Utf8,
    "first_month": pl.Utf8,
    "last_month": pl.Utf8,
    "left": pl.Date,
    **{k: pl.Int16 for k in BIG_FIVE},
}
_MONTH = re.compile(r"^(\d{4})-(\d{2})\.csv$")


def _next_month(month: str) -> date:
    y, m = int(month[:4]), int(month[5:7])
    return date(y + (m == 12), m % 12 + 1, 1)


def read_ldap(root: Path, quarantine: Quarantine) -> pl.DataFrame | None:
    """All snapshots stacked with a `month` column ('YYYY-MM'); None when there is no LDAP/."""
    folder = root / "LDAP"
    if not folder.is_dir():
        return None
    frames = []
    for path in sorted(folder.glob("*.csv")):
        m = _MONTH.match(path.name)
        if not m:
            continue
        try:
            df = read_small_csv(path, quarantine, f"LDAP/{path.name}")
        except EmptyFileError:
            quarantine.add(f"LDAP/{path.name}", 0, "empty file", "")
            continue
        if "user_id" not in df.columns:
            raise ValueError(f"{path}: LDAP snapshot without a user_id column (header {df.columns})")
        df = df.rename({k: v for k, v in LDAP_COLUMNS.items() if k in df.columns})
        df = df.select(
            [pl.col(v) if v in df.columns else pl.lit(None, pl.Utf8).alias(v) for v in LDAP_COLUMNS.values()]
        )
        frames.append(df.with_columns(month=pl.lit(f"{m.group(1)}-{m.group(2)}")))
    return pl.concat(frames) if frames else None


def read_psychometric(root: Path, quarantine: Quarantine) -> pl.DataFrame | None:
    path = root / "psychometric.csv"
    if not path.exists():
        return None
    try:
        df = read_small_csv(path, quarantine, path.name)
    except EmptyFileError:
        quarantine.add(path.name, 0, "empty file", "")
        return None
    missing = [c for c in ["user_id", *BIG_FIVE] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: lacks column(s) {missing} (header {df.columns})")
    return df.select(
        user=pl.col("user_id").str.strip_chars(),
        psych_name=pl.col("employee_name") if "employee_name" in df.columns else pl.lit(None, pl.Utf8),
        **{k: pl.col(k).str.strip_chars().cast(pl.Int16, strict=False) for k in BIG_FIVE},
    )


def load_organisation(root: Path, quarantine: Quarantine) -> pl.DataFrame | None:
    """USERS_SCHEMA table, one row per user seen in LDAP or psychometric; None when neither exists."""
    ldap = read_ldap(root, quarantine)
    psych = read_psychometric(root, quarantine)
    if ldap is None and psych is None:
        return None
    if ldap is not None:
        final_month = ldap["month"].max()
        ldap = ldap.with_columns(pl.col(c).replace("", None) for c in LDAP_COLUMNS.values())
        last = ldap.sort("month").group_by("user", maintain_order=True).last()
        span = ldap.group_by("user").agg(first_month=pl.col("month").min(), last_month=pl.col("month").max())
        users = last.drop("month").join(span, on="user")
        users = users.with_columns(
            left=pl.when(pl.col("last_month") < final_month)
            .then(pl.col("last_month").map_elements(_next_month, return_dtype=pl.Date))
            .otherwise(pl.lit(None, pl.Date))
        )
    else:
        users = pl.DataFrame(schema={k: v for k, v in USERS_SCHEMA.items() if k not in BIG_FIVE})
    if psych is not None:
        users = users.join(psych, on="user", how="full", coalesce=True).with_columns(
            name=pl.coalesce("name", "psych_name")
        )
    users = users.select(
        [(pl.col(c) if c in users.columns else pl.lit(None)).cast(t).alias(c) for c, t in USERS_SCHEMA.items()]
    )
    return users.sort("user")
