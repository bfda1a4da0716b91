"""CERT row formats per release, streamed to disk, plus answers/, LDAP/ and psychometric.csv.

Every row is formatted once, as a `pre` part (id … up to the field before `content`) and the
`content` part, so an answer row is `type,pre[,label],content` — byte-for-byte the log row with
the r5+ label column inserted where the real answer files have it.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl

from neighborwatch.data.synth.insiders import Insider
from neighborwatch.data.synth.organisation import Org, ldap_rows

SOURCES = ("logon", "device", "file", "email", "http")

# output header name -> internal column, per release
FIELDS: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "r4.2": {
        "logon": (("activity", "activity"),),
        "device": (("activity", "activity"),),
        "file": (("filename", "filename"), ("content", "content")),
        "email": (
            ("to", "to"),
            ("cc", "cc"),
            ("bcc", "bcc"),
            ("from", "from_"),
            ("size", "size"),
            ("attachments", "attachments"),
            ("content", "content"),
        ),
        "http": (("url", "url"), ("content", "content")),
    },
    "r5.2": {
        "logon": (("activity", "activity"),),
        "device": (("file_tree", "file_tree"), ("activity", "activity")),
        "file": (
            ("filename", "filename"),
            ("activity", "activity"),
            ("to_removable_media", "to_rem"),
            ("from_removable_media", "from_rem"),
            ("content", "content"),
        ),
        "email": (
            ("to", "to"),
            ("cc", "cc"),
            ("bcc", "bcc"),
            ("from", "from_"),
            ("activity", "activity"),
            ("size", "size"),
            ("attachments", "attachments"),
            ("content", "content"),
        ),
        "http": (("url", "url"), ("content", "content")),
    },
}
FIELDS["r6.2"] = dict(FIELDS["r5.2"], http=(("url", "url"), ("activity", "activity"), ("content", "content")))
RELEASES = tuple(FIELDS)

LDAP_HEADER = {
    "r4.2": "employee_name,user_id,email,role,business_unit,functional_unit,department,team,supervisor",
    "r5.2": "employee_name,user_id,email,role,projects,business_unit,functional_unit,department,team,supervisor",
}
LDAP_HEADER["r6.2"] = LDAP_HEADER["r5.2"]
PSYCHOMETRIC_HEADER = "employee_name,user_id,O,C,E,A,N"
DATE_FMT = "%m/%d/%Y %H:%M:%S"


def header(release: str, source: str) -> str:
    return ",".join(["id", "date", "user", "pc"] + [h for h, _ in FIELDS[release][source]])


def _quoted(e: pl.Expr) -> pl.Expr:
    """CSV-minimal quoting (fields with a comma, quote or line break), as in CERT's r6 content."""
    return (
        pl.when(e.str.contains(r'[,"\r\n]'))
        .then(pl.lit('"') + e.str.replace_all('"', '""', literal=True) + pl.lit('"'))
        .otherwise(e)
    )


# id letters / digits, in CERT's pattern {L D L D - L D L L D D L L - D D D D L L L L}
_PATTERN = "LDLD-LDLLDDLL-DDDDLLLL"
_DIGIT_POS = [i for i, c in enumerate(_PATTERN) if c == "D"]
_LETTER_POS = [i for i, c in enumerate(_PATTERN) if c == "L"]


class IdMaker:
    """Unique CERT-looking ids: 8 digits are a bijection of a running counter, letters random.

    Unique for up to 10^8 events per dataset, deterministic per seed.
    """

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 4])
        self.offsets = [int(x) for x in self.rng.integers(0, 2**20, 3)]
        self.counter = 0

    def _mix(self, x: np.ndarray) -> np.ndarray:
        """A bijection of 0..10^8-1 (a 4-round Feistel network on two 4-digit halves)."""
        left, right = x // 10**4, x % 10**4
        for k in self.offsets + [self.offsets[0] ^ 0x5BD1]:
            f = ((right * 2654435761 + k) % 2**32 >> 11) % 10**4
            left, right = right, (left + f) % 10**4
        return left * 10**4 + right

    def make(self, n: int) -> pl.Series:
        c = self._mix(np.arange(self.counter, self.counter + n, dtype=np.int64))
        self.counter += n
        buf = np.empty((n, len(_PATTERN) + 2), dtype=np.uint8)
        buf[:, 0], buf[:, -1] = ord("{"), ord("}")
        buf[:, [i + 1 for i, ch in enumerate(_PATTERN) if ch == "-"]] = ord("-")
        for k, pos in enumerate(_DIGIT_POS[:8]):  # 9 digit places: 8 carry the counter, 1 is random
            buf[:, pos + 1] = 48 + (c // 10 ** (7 - k)) % 10
        buf[:, _DIGIT_POS[8] + 1] = self.rng.integers(48, 58, n, dtype=np.uint8)
        buf[:, [p + 1 for p in _LETTER_POS]] = self.rng.integers(65, 91, (n, len(_LETTER_POS)), dtype=np.uint8)
        width = len(_PATTERN) + 2
        return pl.Series("id", np.ascontiguousarray(buf).view(f"S{width}").ravel().astype(f"U{width}"))


class ReleaseWriter:
    """Appends time-sorted chunks to the five logs; keeps malicious rows for the answer files."""

    def __init__(self, out: Path, org: Org, seed: int) -> None:
        self.out = Path(out)
        self.org = org
        self.release = org.release
        self.ids = IdMaker(seed)
        self.users = pl.Series(org.user_ids)
        self.rows = dict.fromkeys(SOURCES, 0)
        self.malicious: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        self._seq = 0
        self.out.mkdir(parents=True, exist_ok=True)
        self.files = {}
        for s in SOURCES:
            f = open(self.out / f"{s}.csv", "wb")
            f.write((header(self.release, s) + "\n").encode())
            self.files[s] = f

    def write(self, source: str, df: pl.DataFrame) -> None:
        """df: internal rows of one source, already sorted by time."""
        if df.height == 0:
            return
        fields = FIELDS[self.release][source]
        df = df.with_columns(
            self.ids.make(df.height),
            self.users.gather(df["user"]).alias("user_s"),
        )
        base = [
            pl.col("id"),
            pl.from_epoch("t", time_unit="s").dt.strftime(DATE_FMT),
            pl.col("user_s"),
            pl.lit("PC-") + pl.col("pc").cast(pl.Utf8).str.zfill(4),
        ]
        has_content = fields[-1][0] == "content"
        pre_fields = fields[:-1] if has_content else fields
        pre = pl.concat_str(base + [_quoted(pl.col(c).fill_null("")) for _, c in pre_fields], separator=",")
        df = df.with_columns(pre.alias("pre"))
        if has_content:
            df = df.with_columns(_quoted(pl.col("content").fill_null("")).alias("content_q"))
            line = pl.col("pre") + pl.lit(",") + pl.col("content_q")
        else:
            line = pl.col("pre")
        df = df.with_columns(line.alias("line"))
        df.select("line").write_csv(self.files[source], include_header=False, quote_style="never")
        self.rows[source] += df.height
        bad = df.filter(pl.col("scen") > 0)
        if bad.height:
            if has_content:
                ans = (
                    pl.when(pl.col("label").is_null())
                    .then(pl.lit(source + ",") + pl.col("pre") + pl.lit(",") + pl.col("content_q"))
                    .otherwise(
                        pl.lit(source + ",")
                        + pl.col("pre")
                        + pl.lit(",")
                        + _quoted(pl.col("label"))
                        + pl.lit(",")
                        + pl.col("content_q")
                    )
                )
            else:
                ans = pl.lit(source + ",") + pl.col("pre")
            for ins, t, text in bad.select("ins", "t", ans.alias("a")).iter_rows():
                self.malicious[ins].append((t, self._seq, text))
                self._seq += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    # ------------------------------------------------------------------ side files
    def write_answers(self, insiders: list[Insider]) -> list[dict]:
        """answers/insiders.csv and the per-insider (r4.2, r5.2) or per-scenario (r6.2) files."""
        rel = self.release
        adir = self.out / "answers"
        adir.mkdir(exist_ok=True)
        summary = []
        by_file: dict[Path, list[tuple[int, int, str]]] = defaultdict(list)
        for k, ins in enumerate(insiders):
            rows = sorted(self.malicious.get(k, []))
            if not rows:
                raise RuntimeError(f"insider {self.org.user_ids[ins.user]} produced no malicious rows")
            name = ins.answer_name(self.org)
            path = adir / name if rel == "r6.2" else adir / f"{rel}-{ins.scenario}" / name
            by_file[path] += rows
            start, end = _fmt(rows[0][0]), _fmt(rows[-1][0])
            summary.append(
                {
                    "user": self.org.user_ids[ins.user],
                    "scenario": ins.scenario,
                    "details": name,
                    "start": start,
                    "end": end,
                    "malicious_events": len(rows),
                }
            )
        for path, rows in by_file.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(text + "\n" for _, _, text in sorted(rows)))
        with open(adir / "insiders.csv", "w", newline="") as f:
            f.write("dataset,scenario,details,user,start,end\n")
            for s in sorted(summary, key=lambda x: (x["scenario"], x["user"])):
                f.write(f"{rel[1:]},{s['scenario']},{s['details']},{s['user']},{s['start']},{s['end']}\n")
        return summary

    def write_ldap(self) -> list[str]:
        """Monthly snapshots from the month before the first day (as CERT's 2009-12) to the last."""
        org = self.org
        first, last = org.days[0], org.days[-1]
        y, m = (first.year, first.month - 1) if first.month > 1 else (first.year - 1, 12)
        ldir = self.out / "LDAP"
        ldir.mkdir(exist_ok=True)
        order = np.random.default_rng([len(org.user_ids), 5]).permutation(org.n)
        written = []
        while (y, m) <= (last.year, last.month):
            month_end = dt.date(y, m, calendar.monthrange(y, m)[1])
            people = set(ldap_rows(org, (month_end - first).days))
            with open(ldir / f"{y:04d}-{m:02d}.csv", "w", newline="") as f:
                f.write(LDAP_HEADER[self.release] + "\n")
                w = csv.writer(f, lineterminator="\n")
                for i in order:
                    if i not in people:
                        continue
                    sup = org.names[org.supervisor[i]] if org.supervisor[i] >= 0 else ""
                    row = [org.names[i], org.user_ids[i], org.emails[i], org.role[i]]
                    if self.release != "r4.2":
                        row.append(org.projects[i])
                    row += [org.business_unit[i], org.functional_unit[i], org.department[i], org.team[i], sup]
                    w.writerow(row)
            written.append(f"{y:04d}-{m:02d}")
            y, m = (y, m + 1) if m < 12 else (y + 1, 1)
        return written

    def write_psychometric(self) -> None:
        """One row per person; the real r6.2 copy uses CRLF line endings, so ours does too."""
        org = self.org
        eol = "\r\n" if self.release == "r6.2" else "\n"
        order = np.random.default_rng([len(org.user_ids), 6]).permutation(org.n)
        lines = [PSYCHOMETRIC_HEADER] + [
            f"{org.names[i]},{org.user_ids[i]}," + ",".join(str(int(x)) for x in org.psych[i]) for i in order
        ]
        (self.out / "psychometric.csv").write_bytes((eol.join(lines) + eol).encode())


def _fmt(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime(DATE_FMT)
