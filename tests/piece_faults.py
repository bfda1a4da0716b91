"""Bad lines planted right at the cuts a piecewise reader makes (for test_pieces and test_scale).

Every fault keeps the line's length, so the cuts of the faulty file are the cuts of the clean one
and each fault is known to sit on the last line before a cut or the first line after it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from neighborwatch.data.chunks import cut_points


def _comma(line: bytes, k: int) -> int:
    """Offset just after the k-th comma of a CSV line."""
    pos = -1
    for _ in range(k):
        pos = line.index(b",", pos + 1)
    return pos + 1


def _set(line: bytes, at: int, value: bytes) -> bytes:
    return line[:at] + value + line[at + len(value) :]


# (reason prefix in the quarantine, same-length rewrite of a data line)
FAULTS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("not UTF-8", lambda ln: _set(ln, len(ln) - 1, b"\xff")),
    ("wrong column count", lambda ln: _set(ln, _comma(ln, 1) - 1, b";")),
    ("binary data", lambda ln: _set(ln, _comma(ln, 2), b"\x00")),
    ("unterminated quote", lambda ln: _set(ln, _comma(ln, 2) + 1, b'"')),
    ("bad date", lambda ln: _set(ln, _comma(ln, 1), b"9")),
    ("empty line", lambda ln: b" " * len(ln)),
]


def plant_at_cuts(path: Path, chunk_bytes: int) -> dict[int, str]:
    """Rewrite `path` with one fault of FAULTS at each of its first cuts (alternately on the line
    before and the line after the cut); {line number: expected reason prefix}."""
    data = bytearray(path.read_bytes())
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 10]
    line_at = {offset: n for n, offset in enumerate(starts, start=1)}
    cuts = [end for _, end in cut_points(path, chunk_bytes)][:-1]
    assert len(cuts) >= len(FAULTS), f"{path.name}: only {len(cuts)} cuts at {chunk_bytes} bytes"
    planted: dict[int, str] = {}
    for i, (cut, (reason, fault)) in enumerate(zip(cuts, FAULTS)):
        line = line_at[cut] - (i % 2)  # odd i: the last line of the piece before the cut
        s = starts[line - 1]
        e = data.index(b"\n", s)
        new = fault(bytes(data[s:e]))
        assert len(new) == e - s
        data[s:e] = new
        planted[line] = reason
    path.write_bytes(bytes(data))
    assert [end for _, end in cut_points(path, chunk_bytes)][:-1] == cuts
    return planted
