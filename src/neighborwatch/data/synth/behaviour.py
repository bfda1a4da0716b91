"""One day of normal activity for the whole organisation, vectorised with numpy.

A day is built in two steps: `day_sessions` decides who is logged on where and when (main working
session split by screen locks, evening/night sessions, weekend sessions, short sessions on other
PCs), then `session_events` fills each session with web, e-mail, removable-media and file events
drawn per session (counts from per-user rates, times uniform inside the session). Every event is a
row of an internal, release-agnostic table (see COLUMNS); the writers turn it into CERT rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from neighborwatch.data.synth import vocab
from neighborwatch.data.synth.organisation import Org

DAY = 86400
H = 3600.0

# Internal columns per source (after the common t, user, pc). size is stored as text.
COLUMNS: dict[str, tuple[str, ...]] = {
    "logon": ("activity",),
    "device": ("file_tree", "activity"),
    "file": ("filename", "activity", "to_rem", "from_rem", "content"),
    "email": ("to", "cc", "bcc", "from_", "activity", "size", "attachments", "content"),
    "http": ("url", "activity", "content"),
}
COMMON = ("t", "user", "pc", "scen", "ins", "label")
KIND_MAIN, KIND_EVENING, KIND_OTHER_PC, KIND_WEEKEND = 0, 1, 2, 3

# r4.2 head distributions
N_TO = (np.arange(1, 6), np.array([1433, 600, 366, 84, 17], float))
N_CC = (np.arange(0, 5), np.array([1124, 1100, 230, 44, 2], float))
N_BCC = (np.arange(0, 3), np.array([1850, 619, 31], float))
N_ATTACH = (np.arange(0, 10), np.array([1848, 348, 169, 69, 23, 12, 12, 14, 1, 4], float))
INTERNAL_RECIPIENT_P = 0.65
# r6.2 sample: 461 visits, 33 downloads, 6 uploads
HTTP_ACTIVITY = (("WWW Visit", "WWW Download", "WWW Upload"), np.array([461, 33, 6], float))
ZIPF_K = 30
ZIPF_P = 1.0 / np.arange(1, ZIPF_K + 1) ** 1.1
ZIPF_P /= ZIPF_P.sum()


@dataclass
class Sessions:
    """Who is logged on where today: one row per Logon..Logoff interval (absolute seconds)."""

    user: np.ndarray
    pc: np.ndarray
    start: np.ndarray
    end: np.ndarray
    whole_minute: np.ndarray  # daily logon/logoff happen on the minute (76 % of r4.2 logon rows)
    logoff: np.ndarray  # False: the Logoff is missing (CERT drops some on purpose)
    kind: np.ndarray

    def main_span(self, n_users: int) -> tuple[np.ndarray, np.ndarray]:
        """Per user: first start and last end of the own-PC working sessions today (-1 if none)."""
        big = np.iinfo(np.int64).max
        first = np.full(n_users, big, dtype=np.int64)
        last = np.full(n_users, -1, dtype=np.int64)
        m = (self.kind == KIND_MAIN) | (self.kind == KIND_WEEKEND)
        np.minimum.at(first, self.user[m], self.start[m])
        np.maximum.at(last, self.user[m], self.end[m])
        first[first == big] = -1
        return first, last


class Pools:
    """Precomputed strings (URLs, content, filenames) that events pick from by index."""

    def __init__(self, org: Org, seed: int) -> None:
        rng = np.random.default_rng([seed, 2])
        sentences = org.release == "r6.2"
        self.urls = pl.Series(page_urls(rng, int(org.fav_urls.max()) + 1))
        self.job_urls = pl.Series([_job_url(rng, dom) for dom in vocab.JOB_DOMAINS for _ in range(3)])
        self.http_content = pl.Series(content_pool(rng, vocab.COMMON_WORDS, 2048, 8, 25, sentences))
        self.job_content = pl.Series(content_pool(rng, vocab.JOB_WORDS, 256, 8, 25, sentences))
        self.email_content = pl.Series(content_pool(rng, vocab.COMMON_WORDS, 2048, 10, 30, sentences))
        self.file_content = pl.Series(content_pool(rng, vocab.COMMON_WORDS, 2048, 8, 25, sentences))
        self.txt_headers = pl.Series(["-".join(f"{b:02X}" for b in rng.integers(0x30, 0x5B, 4)) for _ in range(512)])
        self.org = org


def content_pool(
    rng: np.random.Generator, words: list[str] | tuple[str, ...], n: int, lo: int, hi: int, sentences: bool
) -> list[str]:
    """Bag of words (r4/r5) or comma-rich sentences (r6, which CERT quotes)."""
    words = list(words)
    out = []
    for _ in range(n):
        k = int(rng.integers(lo, hi + 1))
        w = [words[j] for j in rng.integers(0, len(words), k)]
        if not sentences:
            out.append(" ".join(w))
            continue
        parts, i = [], 0
        while i < k:
            m = int(rng.integers(5, 12))
            s = w[i : i + m]
            if len(s) > 3 and rng.random() < 0.5:
                s[len(s) // 2] += ","
            if rng.random() < 0.05:
                s[0] = f'"{s[0]}"'
            parts.append(" ".join(s).capitalize() + ".")
            i += m
        out.append(" ".join(parts))
    return out


def page_urls(rng: np.random.Generator, n: int) -> list[str]:
    """http://domain/Topic_Words/word/rot13token123456.ext, like CERT's URL shape."""
    words, doms, exts = vocab.COMMON_WORDS, vocab.WEB_DOMAINS, vocab.URL_EXTENSIONS
    w = rng.integers(0, len(words), (n, 7))
    n_topic = rng.integers(1, 4, n)
    n_token = rng.integers(1, 4, n)
    dom = rng.integers(0, len(doms), n)
    ext = rng.integers(0, len(exts), n)
    num = rng.integers(10**5, 2 * 10**9, n)
    out = []
    for i in range(n):
        topic = "_".join(words[j].capitalize() for j in w[i, : n_topic[i]])
        token = vocab.rot13("".join(words[j] for j in w[i, 4 : 4 + n_token[i]]))
        out.append(f"http://{doms[dom[i]]}/{topic}/{words[w[i, 3]]}/{token}{num[i]}.{exts[ext[i]]}")
    return out


def _job_url(rng: np.random.Generator, domain: str) -> str:
    ext = vocab.URL_EXTENSIONS[int(rng.integers(len(vocab.URL_EXTENSIONS)))]
    return f"http://{domain}/{vocab.rot13('JobSearch')}{int(rng.integers(10**5, 2 * 10**9))}.{ext}"


_NAME_CHARS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)


def random_names(rng: np.random.Generator, n: int, k: int = 8) -> np.ndarray:
    """n random upper-case alphanumeric tokens (CERT file names look like EYPC9Y08)."""
    a = _NAME_CHARS[rng.integers(0, 36, (n, k))]
    return np.ascontiguousarray(a).view(f"S{k}").ravel().astype(f"U{k}")


def _poisson_times(
    rng: np.random.Generator, rate: np.ndarray, start: np.ndarray, end: np.ndarray, margin: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per interval, Poisson(rate) event times uniform inside it; returns (interval index, time)."""
    counts = rng.poisson(np.maximum(rate, 0.0))
    idx = np.repeat(np.arange(len(rate)), counts)
    lo = start[idx] + margin
    span = np.maximum(end[idx] - margin - lo, 0)
    t = lo + np.floor(rng.random(len(idx)) * span)
    return idx, t.astype(np.int64)


def day_sessions(org: Org, d: int, day0: int, rng: np.random.Generator) -> Sessions:
    """Logon intervals of everybody on day d (day0 = midnight of that day, epoch seconds)."""
    n = org.n
    employed = org.leave_day > d
    off = bool(org.weekend_or_holiday[d])
    parts: list[tuple[np.ndarray, ...]] = []

    if not off:
        u = np.flatnonzero(employed & org.present[:, d])
        s = org.start_h[u] + rng.normal(0, 1, len(u)) * org.jitter_h[u]
        e = org.end_h[u] + rng.normal(0, 1, len(u)) * org.jitter_h[u]
        s = np.clip(s, 4.0, 13.0)
        e = np.clip(np.maximum(e, s + 3.0), None, 23.9)
        kind = KIND_MAIN
    else:
        u = np.flatnonzero(employed & (rng.random(n) < org.weekend_p))
        s = rng.uniform(8.0, 14.0, len(u))
        e = s + rng.uniform(1.0, 5.0, len(u))
        kind = KIND_WEEKEND
    start = day0 + (np.floor(s * 60) * 60).astype(np.int64)
    end = day0 + (np.floor(e * 60) * 60).astype(np.int64)
    # screen locks: the working day splits into several Logon..Logoff pieces
    n_locks = np.minimum(rng.poisson(org.lock_per_day[u]), 3)
    keep = n_locks == 0
    parts.append(
        (u[keep], org.pc[u[keep]], start[keep], end[keep], np.ones(keep.sum(), bool), np.full(keep.sum(), kind))
    )
    for j in np.flatnonzero(~keep):
        s0, e0 = int(start[j]), int(end[j])
        cuts = np.sort(rng.uniform(s0 + 1800, max(e0 - 1800, s0 + 1801), n_locks[j])).astype(np.int64)
        gaps = rng.uniform(120, 3600, n_locks[j]).astype(np.int64)
        st = [s0] + [int(c + g) for c, g in zip(cuts, gaps)]
        en = [int(c) for c in cuts] + [e0]
        for a, b in zip(st, en):
            if b > a + 60:
                parts.append(
                    (
                        np.array([u[j]]),
                        np.array([org.pc[u[j]]]),
                        np.array([a]),
                        np.array([b]),
                        np.array([a == s0]),
                        np.array([kind]),
                    )
                )
    # evening / night sessions on the own PC (late workers, administrators)
    if not off:
        ev = u[rng.random(len(u)) < org.evening_p[u]]
        es = np.maximum(org.end_h[ev] + 0.5, 18.5) + rng.uniform(0, 4.5, len(ev))
        ee = es + rng.uniform(0.3, 3.0, len(ev))
        parts.append(
            (
                ev,
                org.pc[ev],
                day0 + (es * H).astype(np.int64),
                day0 + (ee * H).astype(np.int64),
                np.zeros(len(ev), bool),
                np.full(len(ev), KIND_EVENING),
            )
        )
    # short sessions on other PCs: shared machines, a colleague's PC; administrators everywhere
    roam = rng.poisson(org.roam_per_day[u] * (0.3 if off else 1.0))
    ru = np.repeat(u, roam)
    if len(ru):
        all_pcs = np.concatenate([org.pc, org.shared_pcs])
        admin = np.array([org.role[i] == "ITAdmin" for i in ru])
        pc = np.where(
            rng.random(len(ru)) < 0.7,
            org.shared_pcs[rng.integers(0, len(org.shared_pcs), len(ru))],
            org.pc[rng.integers(0, n, len(ru))],
        )
        pc = np.where(admin, all_pcs[rng.integers(0, len(all_pcs), len(ru))], pc)
        night = admin & (rng.random(len(ru)) < 0.25)
        rs = np.where(night, rng.uniform(19.0, 23.5, len(ru)), org.start_h[ru] + rng.uniform(0.3, 8.0, len(ru)))
        re_ = rs + rng.uniform(5, 60, len(ru)) / 60
        parts.append(
            (
                ru,
                pc,
                day0 + (rs * H).astype(np.int64),
                day0 + (re_ * H).astype(np.int64),
                np.zeros(len(ru), bool),
                np.full(len(ru), KIND_OTHER_PC),
            )
        )
    cols = [np.concatenate([p[k] for p in parts]) for k in range(6)]
    logoff = rng.random(len(cols[0])) >= 0.01
    return Sessions(
        user=cols[0].astype(np.int64),
        pc=cols[1].astype(np.int64),
        start=cols[2].astype(np.int64),
        end=cols[3].astype(np.int64),
        whole_minute=cols[4].astype(bool),
        logoff=logoff,
        kind=cols[5].astype(np.int8),
    )


def _frame(
    source: str, t: np.ndarray, user: np.ndarray, pc: np.ndarray, **fields: pl.Series | np.ndarray | list[str] | str
) -> pl.DataFrame:
    n = len(t)
    data: dict[str, object] = {
        "t": pl.Series(t, dtype=pl.Int64),
        "user": pl.Series(user, dtype=pl.Int32),
        "pc": pl.Series(pc, dtype=pl.Int32),
        "scen": pl.Series(np.zeros(n, np.int8)),
        "ins": pl.Series(np.full(n, -1, np.int32)),
        "label": pl.Series([None] * n, dtype=pl.Utf8),
    }
    for c in COLUMNS[source]:
        v = fields[c]
        data[c] = (
            v if isinstance(v, pl.Series) else pl.Series(c, v if not isinstance(v, str) else [v] * n, dtype=pl.Utf8)
        )
    return pl.DataFrame(data).with_columns(pl.col(c).cast(pl.Utf8) for c in COLUMNS[source])


def session_events(org: Org, pools: Pools, sess: Sessions, d: int, rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Fill today's sessions with events; returns one internal table per source."""
    rel = org.release
    out: dict[str, pl.DataFrame] = {}
    dur_h = (sess.end - sess.start) / H
    other = sess.kind == KIND_OTHER_PC

    # logon: Logon at each start, Logoff at each end, plus screen-unlock Logons without Logoff
    un_idx, un_t = _poisson_times(
        rng, np.where(sess.kind == KIND_MAIN, org.unlock_per_day[sess.user], 0.0), sess.start, sess.end, 60
    )
    on_t = sess.start
    lo = sess.logoff
    t = np.concatenate([on_t, sess.end[lo], un_t])
    user = np.concatenate([sess.user, sess.user[lo], sess.user[un_idx]])
    pc = np.concatenate([sess.pc, sess.pc[lo], sess.pc[un_idx]])
    act = np.concatenate([np.full(len(on_t), "Logon"), np.full(lo.sum(), "Logoff"), np.full(len(un_t), "Logon")])
    out["logon"] = _frame("logon", t, user, pc, activity=act)

    # http: the bulk of all rows (~85 % in r4.2)
    factor = np.where(other, 0.3, 1.0)
    hi, ht = _poisson_times(rng, org.http_per_h[sess.user] * dur_h * factor, sess.start, sess.end)
    hu = sess.user[hi]
    job = rng.random(len(hi)) < org.jobsite_p[hu]
    fav = org.fav_urls[hu, rng.choice(ZIPF_K, len(hi), p=ZIPF_P)]
    rnd = rng.integers(0, len(pools.urls), len(hi))
    url_idx = np.where(rng.random(len(hi)) < 0.85, fav, rnd)
    urls = pools.urls.gather(url_idx)
    content = pools.http_content.gather(rng.integers(0, len(pools.http_content), len(hi)))
    if job.any():
        jpos = np.flatnonzero(job)
        urls = urls.scatter(jpos, pools.job_urls.gather(rng.integers(0, len(pools.job_urls), len(jpos))))
        content = content.scatter(jpos, pools.job_content.gather(rng.integers(0, len(pools.job_content), len(jpos))))
    if rel == "r6.2":
        names, p = HTTP_ACTIVITY
        a = rng.choice(3, len(hi), p=p / p.sum())
        activity = pl.Series(np.array(names)[a])
        transfer = np.flatnonzero(a > 0)
        if len(transfer):
            ext, header = file_kinds(pools, rng, len(transfer))
            fn = random_names(rng, len(transfer))
            urls = urls.scatter(transfer, pl.Series(urls.gather(transfer) + "/" + pl.Series(fn) + "." + ext))
            content = content.scatter(transfer, header + " " + content.gather(transfer))
    else:
        activity = pl.Series([""] * len(hi))
    out["http"] = _frame("http", ht, hu, sess.pc[hi], url=urls, activity=activity, content=content)

    # removable media: Connect, files copied while connected, Disconnect
    dev_rate = np.where(other, 0.0, org.device_per_h[sess.user] * dur_h)
    ci, ct = _poisson_times(rng, dev_rate, sess.start, sess.end - 120)
    dur = np.minimum(rng.exponential(19 * 60, len(ci)).astype(np.int64) + 20, sess.end[ci] - 1 - ct)
    dt_ = ct + np.maximum(dur, 1)
    has_dis = rng.random(len(ci)) >= 0.01
    cu, cpc = sess.user[ci], sess.pc[ci]
    tree = np.array(org.file_tree, dtype=object)[cu] if len(ci) else np.zeros(0, dtype=object)
    dev_t = np.concatenate([ct, dt_[has_dis]])
    dev_u = np.concatenate([cu, cu[has_dis]])
    dev_pc = np.concatenate([cpc, cpc[has_dis]])
    dev_act = np.concatenate([np.full(len(ct), "Connect"), np.full(has_dis.sum(), "Disconnect")])
    dev_tree = np.concatenate([tree, np.full(has_dis.sum(), "", dtype=object)]).astype(str)
    out["device"] = _frame("device", dev_t, dev_u, dev_pc, file_tree=dev_tree, activity=dev_act)

    fi, ft = _poisson_times(rng, org.files_per_connect[cu], ct, dt_)
    frames = [file_rows(pools, rng, ft, cu[fi], cpc[fi], removable=True)]
    if rel != "r4.2":
        li, lt = _poisson_times(
            rng, np.where(other, 0.0, org.local_files_per_h[sess.user] * dur_h), sess.start, sess.end
        )
        frames.append(file_rows(pools, rng, lt, sess.user[li], sess.pc[li], removable=False))
    out["file"] = pl.concat(frames)

    # e-mail
    ei, et = _poisson_times(rng, org.email_per_h[sess.user] * dur_h * factor, sess.start, sess.end)
    out["email"] = email_rows(org, pools, sess, d, rng, et, sess.user[ei], sess.pc[ei])
    return out


def file_kinds(pools: Pools, rng: np.random.Generator, n: int) -> tuple[pl.Series, pl.Series]:
    """Extensions with CERT's mix and their hex headers (txt: random 4 bytes)."""
    exts = np.array(vocab.FILE_EXTENSIONS)[rng.choice(len(vocab.FILE_EXTENSIONS), n, p=vocab.FILE_EXTENSION_WEIGHTS)]
    header = pl.Series([vocab.FILE_HEADERS.get(e, "") for e in exts])
    txt = np.flatnonzero(exts == "txt")
    if len(txt):
        header = header.scatter(txt, pools.txt_headers.gather(rng.integers(0, len(pools.txt_headers), len(txt))))
    return pl.Series(exts), header


def file_rows(
    pools: Pools, rng: np.random.Generator, t: np.ndarray, user: np.ndarray, pc: np.ndarray, removable: bool
) -> pl.DataFrame:
    """File events. r4: copies to removable media, bare names. r5+: paths, activity and flags."""
    org = pools.org
    n = len(t)
    ext, header = file_kinds(pools, rng, n)
    name = pl.Series(random_names(rng, n)) + "." + ext
    content = header + " " + pools.file_content.gather(rng.integers(0, len(pools.file_content), n))
    if org.release == "r4.2":
        return _frame("file", t, user, pc, filename=name, activity="", to_rem="", from_rem="", content=content)
    drive = "R:\\" if removable else "C:\\"
    sub = np.where(rng.random(n) < 0.6, np.char.add(random_names(rng, n, 7), "\\"), "")
    if not removable:
        own = rng.random(n) < 0.3
        sub = np.where(own, np.char.add(np.array(org.user_ids)[user] if n else np.zeros(0, str), "\\"), sub)
    path = drive + pl.Series(sub) + name
    if removable:
        if org.release == "r6.2":
            combos: tuple[tuple[str, str, str], ...] = (
                ("File Open", "False", "True"),
                ("File Write", "True", "False"),
                ("File Copy", "True", "False"),
                ("File Copy", "False", "True"),
                ("File Delete", "False", "True"),
            )
            p = np.array([0.35, 0.25, 0.2, 0.1, 0.1])
        else:
            combos = (("File Open", "False", "True"), ("File Write", "True", "False"))
            p = np.array([0.55, 0.45])
    else:
        combos = (("File Open", "False", "False"), ("File Write", "False", "False"))
        p = np.array([0.8, 0.2])
    k = rng.choice(len(combos), n, p=p)
    arr = np.array(combos)[k] if n else np.zeros((0, 3), str)
    return _frame(
        "file", t, user, pc, filename=path, activity=arr[:, 0], to_rem=arr[:, 1], from_rem=arr[:, 2], content=content
    )


def attachment_text(org: Org, rng: np.random.Generator, user: int, k: int) -> str:
    """r4: a count; r5: name.ext(bytes) list; r6: full paths with sizes."""
    if org.release == "r4.2":
        return str(k)
    items = []
    for _ in range(k):
        ext = vocab.FILE_EXTENSIONS[
            int(rng.choice(5, p=np.array(vocab.FILE_EXTENSION_WEIGHTS[:5]) / sum(vocab.FILE_EXTENSION_WEIGHTS[:5])))
        ]
        size = int(rng.lognormal(np.log(400000), 0.9))
        if org.release == "r5.2":
            items.append(f"{vocab.COMMON_WORDS[int(rng.integers(len(vocab.COMMON_WORDS)))]}.{ext}({size})")
        else:
            folder = f"{org.user_ids[user]}\\" if rng.random() < 0.5 else ""
            items.append(f"C:\\{folder}{random_names(rng, 1)[0]}.{ext}({size})")
    return ";".join(items)


def email_rows(
    org: Org,
    pools: Pools,
    sess: Sessions,
    d: int,
    rng: np.random.Generator,
    t: np.ndarray,
    user: np.ndarray,
    pc: np.ndarray,
) -> pl.DataFrame:
    """Sent e-mails; in r5 (Receive) and r6 (View) the internal recipients' copies as well."""
    rel = org.release
    employed = org.leave_day > d
    first, last = sess.main_span(org.n)
    team_members: dict[int, np.ndarray] = {}
    n = len(t)
    n_to = rng.choice(N_TO[0], n, p=N_TO[1] / N_TO[1].sum())
    n_cc = rng.choice(N_CC[0], n, p=N_CC[1] / N_CC[1].sum())
    n_bcc = rng.choice(N_BCC[0], n, p=N_BCC[1] / N_BCC[1].sum())
    n_att = rng.choice(N_ATTACH[0], n, p=N_ATTACH[1] / N_ATTACH[1].sum())
    size = np.maximum(rng.normal(29750, 9750, n), 9000).astype(np.int64)
    content = pools.email_content.gather(rng.integers(0, len(pools.email_content), n)).to_list()
    rows: dict[str, list] = {
        k: [] for k in ("t", "user", "pc", "to", "cc", "bcc", "from_", "activity", "size", "attachments", "content")
    }
    for j in range(n):
        u = int(user[j])
        tid = int(org.team_id[u])
        if tid not in team_members:
            team_members[tid] = np.flatnonzero((org.team_id == tid) & employed)
        mates = team_members[tid]
        fields, internal, internal_to = [], [], []
        for fi, cnt in enumerate((n_to[j], n_cc[j], n_bcc[j])):
            addrs = []
            for _ in range(cnt):
                if rng.random() < INTERNAL_RECIPIENT_P:
                    r = rng.random()
                    if r < 0.6 and len(mates) > 1:
                        v = int(mates[rng.integers(len(mates))])
                    elif r < 0.75 and org.supervisor[u] >= 0:
                        v = int(org.supervisor[u])
                    else:
                        v = int(rng.integers(org.n))
                    if v == u or not employed[v]:
                        continue
                    addrs.append(org.emails[v])
                    internal.append(v)
                    if fi == 0:
                        internal_to.append(v)
                else:
                    addrs.append(org.external_contacts[int(org.contacts[u, rng.integers(org.contacts.shape[1])])])
            fields.append(";".join(dict.fromkeys(addrs)))
        if not fields[0]:
            fields[0] = org.external_contacts[int(org.contacts[u, 0])]
        # r4.2 head: 66 % of senders are @dtaa.com; private mail goes mostly to outside people
        sender = org.personal_emails[u] if rng.random() < (0.1 if internal else 0.85) else org.emails[u]
        att = attachment_text(org, rng, u, int(n_att[j]))
        sz = str(int(size[j]))
        base = (fields[0], fields[1], fields[2], sender, sz, att, content[j])
        _add_email(rows, int(t[j]), u, int(pc[j]), base, "Send")
        if rel == "r4.2":
            continue
        targets = internal if rel == "r6.2" else internal_to
        for v in dict.fromkeys(targets):
            tv = int(t[j]) + 60
            if first[v] <= tv <= last[v]:  # only people at work read mail
                _add_email(rows, tv, v, int(org.pc[v]), base, "Receive" if rel == "r5.2" else "View")
    if rel == "r4.2":
        rows["activity"] = [""] * len(rows["t"])
    return _frame(
        "email", np.array(rows.pop("t"), np.int64), np.array(rows.pop("user")), np.array(rows.pop("pc")), **rows
    )


def _add_email(rows: dict[str, list], t: int, u: int, pc: int, base: tuple, activity: str) -> None:
    rows["t"].append(t)
    rows["user"].append(u)
    rows["pc"].append(pc)
    for k, v in zip(("to", "cc", "bcc", "from_", "size", "attachments", "content"), base):
        rows[k].append(v)
    rows["activity"].append(activity)
