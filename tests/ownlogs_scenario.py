"""The own-logs scenario of issue 10, generated: 30 accounts × 60 days of a small company's
application log (columns timestamp,account,event,device), with a planted insider.

Support staff open tickets, view records and now and then export a CSV; developers ssh, sudo and
git push. Every working day each account logs in (sometimes twice, after a lunch gap), works,
and usually logs out. In the last week one support account (acct07) comes back at 02:xx and runs
a burst of exports, a sudo and an action never seen before ("dump_db"): the planted anomaly.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

ACCOUNTS = 30
DAYS = 60
START = datetime(2024, 1, 1)
SUPPORT = ("open_ticket", "view_record", "view_record", "view_record", "open_ticket", "export_csv")
DEV = ("ssh", "ssh", "git_push", "sudo", "ssh", "view_record")
INSIDER = "acct07"
MAP = "user=account,time=timestamp,action=event,host=device"


def write_log(path: Path, seed: int = 0) -> dict[str, object]:
    """Write the CSV; returns {'rows', 'logins', 'anomaly': [(start, end)], 'anomaly_rows'}."""
    rng = random.Random(seed)
    rows: list[tuple[datetime, str, str, str]] = []
    anomaly: list[tuple[datetime, datetime]] = []
    for d in range(DAYS):
        day = START + timedelta(days=d)
        weekend = day.weekday() >= 5
        for a in range(ACCOUNTS):
            account, device = f"acct{a:02d}", f"ws-{a:02d}"
            if weekend and rng.random() < 0.85:
                continue
            work = SUPPORT if a % 2 else DEV
            t = day + timedelta(hours=rng.choice([8, 8, 9]), minutes=rng.randint(0, 59))
            for part in range(2 if rng.random() < 0.5 else 1):
                rows.append((t, account, "login", device))
                for _ in range(rng.randint(10, 17)):
                    t += timedelta(minutes=rng.randint(1, 25), seconds=rng.randint(0, 59))
                    rows.append((t, account, rng.choice(work), device))
                if rng.random() < 0.85:
                    t += timedelta(minutes=rng.randint(1, 10))
                    rows.append((t, account, "logout", device))
                t += timedelta(minutes=rng.randint(45, 90))  # lunch: the idle rule ends a forgotten session
        if d >= DAYS - 7 and d % 2 == 0:  # the insider's night sessions in the test period
            t = day + timedelta(hours=2, minutes=rng.randint(0, 30))
            t0 = t
            rows.append((t, INSIDER, "login", "ws-07"))
            for act in ("sudo", "export_csv", "dump_db", "export_csv", "export_csv", "git_push"):
                t += timedelta(minutes=rng.randint(1, 3))
                rows.append((t, INSIDER, act, "ws-07"))
            rows.append((t + timedelta(minutes=1), INSIDER, "logout", "ws-07"))
            anomaly.append((t0, t + timedelta(minutes=1)))
    rows.sort()
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "account", "event", "device"])
        for t, account, event, device in rows:
            w.writerow([t.isoformat(sep=" "), account, event, device])
    return {"rows": len(rows), "logins": sum(r[2] == "login" for r in rows), "anomaly": anomaly}


def write_incidents(path: Path, anomaly: list[tuple[datetime, datetime]]) -> Path:
    """The team's incident list for the planted anomaly, as user,start,end,scenario windows."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user", "start", "end", "scenario"])
        for t0, t1 in anomaly:
            w.writerow([INSIDER, t0.isoformat(), t1.isoformat(), "exfiltration"])
    return path
