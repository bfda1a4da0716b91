"""FMLP-Rec as a post-hoc (sequence-level) detector — the LAN paper's best post-hoc baseline on
r4.2 (AUC 0.8837).

The paper uses FMLP-Rec (Zhou et al., WWW 2022) for both tasks without saying how it scores a
whole sequence. We reuse the real-time FMLP-Rec next-activity model unchanged
(`realtime.fmlprec`: filter-enhanced MLP blocks over the previous W activities, trained on the
normal training activities) and score a finished sequence by the mean of its 3 highest activity
surprisals `−log P(a_i | prefix)` — the same reduction as LAN's post-hoc score, so the two
differ only in the model. A separate name and `levels = {SEQUENCE}` keep it in the post-hoc table, and
it is fitted per level (sessions, user-days) by the benchmark; its session fit is FMLP-Rec's
(`fit_of`), so a benchmark holding both rows fits it once.
"""

from __future__ import annotations

from typing import ClassVar

from neighborwatch.models.base import SEQUENCE
from neighborwatch.models.baselines.realtime.fmlprec import FMLPRec
from neighborwatch.models.manifest import register


@register
class FMLPRecPosthoc(FMLPRec):
    name: ClassVar[str] = "fmlprec_posthoc"
    levels: ClassVar[frozenset[str]] = frozenset({SEQUENCE})
    fit_of: ClassVar[str | None] = FMLPRec.name
