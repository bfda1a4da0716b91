"""Incremental LAN scoring: O(1) encoder work per event, neighbours looked up, never re-encoded.

Per open session (one slot) the scorer keeps what the next prediction needs and nothing else:
* the recurrent encoder state (h[, c] of every layer) — one `encode_step` per new activity;
* the hidden states the last-position attention pooling reads: a ring of the W most recent ones
  when `attention_window` = W > 0 (constant memory and cost per event), or the whole prefix
  when W = 0 (the paper's pooling: the attention itself then costs O(prefix), as it must);
* the 64-bit token hash of the prefix (`retrieval.hash_step`), so that `exclude_identical` skips
  a pool prefix with the same tokens exactly as batch scoring does.
With `user_history`, `score` conditions each prediction on the acting user, as batch scoring does.

`predict` pools each session's prefix (`model.pool_last`), searches the FIXED pool index and runs
the graph head with the stored pool vectors (`scoring.neighbour_ids`, `scoring.head_probabilities`
— the batch path's own functions), so the numbers equal `LAN.score_activities` on the same
sessions up to float rounding.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from neighborwatch.models.lan.retrieval import EMPTY_HASH, hash_step
from neighborwatch.models.lan.scoring import head_probabilities, needs_hashes, neighbour_ids
from neighborwatch.models.stream import EventDetails, Prediction, StreamScorer

if TYPE_CHECKING:  # the detector imports this module to offer `stream_scorer()`
    from neighborwatch.models.lan.detector import LAN


class LANStreamScorer(StreamScorer):
    name = "lan"

    def __init__(
        self, detector: LAN, capacity: int = 256, event_details: EventDetails | None = None, cache_size: int = 50_000
    ) -> None:
        detector._require_fitted()
        if not detector.model.encoder.recurrent:
            raise NotImplementedError(
                f"streaming needs a recurrent encoder (lstm, gru, rnn); this model uses "
                f"{detector.config.encoder!r}, whose state is the whole token history"
            )
        self.det = detector
        self.cfg = detector.config
        self.model = detector.model.eval()
        self.device = detector.device
        self.vocab_size = self.cfg.vocab_size
        self.window = int(self.cfg.attention_window)
        self._lstm = self.cfg.encoder == "lstm"
        self._hist: list[np.ndarray | None] = []  # whole-prefix hidden states (window 0 only)
        super().__init__(capacity)
        self._pool_info: dict[int, dict[str, Any]] | None = None
        self.event_details = event_details
        # prefix hash → (probs, neighbours, similarities): the prediction is a pure function of
        # the prefix's tokens, and common prefixes (a logon, then the usual first activities)
        # recur all day long, so their retrieval + graph head run once (neighbours / similarities
        # None where they are not retrieved, so not cited)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0
        # cumulative wall seconds per stage (a handful of clock reads per batched call), so that
        # benchmarks and /metrics-style reports can say where the time goes
        self.seconds: dict[str, float] = {"pool": 0.0, "search": 0.0, "head": 0.0, "encode": 0.0}

    def config(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "name": self.name,
            "vocab_size": c.vocab_size,
            "encoder": c.encoder,
            "layers": c.layers,
            "hidden": c.hidden,
            "attention_window": c.attention_window,
            "pool": len(self.det._require_fitted()[0]),
        }

    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], Any, int]]:
        c = self.cfg
        shapes: dict[str, tuple[tuple[int, ...], Any, int]] = {
            "h": ((c.layers, c.hidden), np.float32, 1),
            "length": ((), np.int64, 0),
            "hash": ((), np.int64, 0),
        }
        if c.encoder == "lstm":
            shapes["c"] = ((c.layers, c.hidden), np.float32, 1)
        if c.attention_window:
            shapes["ring"] = ((c.attention_window, c.hidden), np.float32, 0)
        return shapes

    def _reset(self, slot: int) -> None:
        super()._reset(slot)
        self.state["hash"][slot] = EMPTY_HASH
        if not self.window:
            while len(self._hist) <= slot:
                self._hist.append(None)
            self._hist[slot] = None

    def release(self, slot: int) -> None:
        if not self.window and slot < len(self._hist):
            self._hist[slot] = None  # free the prefix's memory now, not at reuse
        super().release(slot)

    # -- the two batched operations ----------------------------------------------------------
    def _window_states(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[n, T, H] hidden states each pooling reads (oldest first, right-padded), lengths [n]."""
        lengths = self.state["length"][slots]
        if self.window:
            eff = np.minimum(lengths, self.window)
            t = int(eff.max())
            j = np.arange(t)[None, :]
            src = (lengths - eff)[:, None] + j
            hidden = self.state["ring"][slots[:, None], src % self.window]
            hidden[j >= eff[:, None]] = 0.0
            return hidden, eff
        t = int(lengths.max())
        hidden = np.zeros((len(slots), t, self.cfg.hidden), dtype=np.float32)
        for i, s in enumerate(slots):
            hidden[i, : lengths[i]] = self._hist[s][: lengths[i]]  # type: ignore[index]
        return hidden, lengths

    @torch.inference_mode()
    def query_vectors(self, slots: np.ndarray) -> np.ndarray:
        hidden, lengths = self._window_states(np.asarray(slots, dtype=np.int64))
        q = self.model.pool_last(torch.from_numpy(hidden).to(self.device), torch.from_numpy(lengths).to(self.device))
        return q.float().cpu().numpy()

    def predict(self, slots: np.ndarray) -> Prediction:
        slots = np.asarray(slots, dtype=np.int64)
        if (self.state["length"][slots] < 1).any():
            raise ValueError("predict needs sessions with at least one activity")
        if not self.cache_size:
            return self._predict(slots)
        keys = self.state["hash"][slots].tolist()
        cache = self._cache
        # a miss is computed once per distinct prefix, however many sessions share it in this
        # call (at a burst of logons most sessions do): the prediction is a function of the prefix
        first_of: dict[int, int] = {}
        for i, k in enumerate(keys):
            if k not in cache and k not in first_of:
                first_of[k] = i
        self.cache_hits += len(keys) - len(first_of)
        self.cache_misses += len(first_of)
        if first_of:
            miss = list(first_of.values())
            fresh = self._predict(slots[miss])
            nb, sims = fresh.neighbours, fresh.similarities
            for j, i in enumerate(miss):  # own copies: a view would pin the whole batch array
                cache[keys[i]] = (
                    fresh.probs[j].copy(),
                    None if nb is None else nb[j].copy(),
                    None if sims is None else sims[j].copy(),
                )
        rows = [cache[k] for k in keys]
        for k in keys:
            cache.move_to_end(k)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
        row_nbrs = [r[1] for r in rows if r[1] is not None]
        row_sims = [r[2] for r in rows if r[2] is not None]
        cited = len(row_nbrs) == len(row_sims) == len(rows)  # all or none: one config for every prefix
        return Prediction(
            probs=np.stack([r[0] for r in rows]),
            neighbours=np.stack(row_nbrs) if cited else None,
            similarities=np.stack(row_sims) if cited else None,
        )

    def score(
        self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray, users: np.ndarray
    ) -> tuple[np.ndarray, Prediction | None]:
        """1 − P(token | prefix[, user]): the cached prefix prediction, conditioned on the acting
        user after the cache (the cache is keyed by the prefix alone), as batch scoring does."""
        pred = self.predict(slots)
        history = self.det.user_history
        if history is not None:
            pred.probs = history.condition(pred.probs, users, self.cfg.user_prior_events)
        observed = pred.probs[np.arange(len(slots)), np.asarray(tokens, dtype=np.int64)]
        return 1.0 - observed.astype(np.float64), pred

    def _predict(self, slots: np.ndarray) -> Prediction:
        t0 = time.perf_counter()
        q = np.ascontiguousarray(self.query_vectors(slots), dtype=np.float32)
        t1 = time.perf_counter()
        hashes = self.state["hash"][slots] if needs_hashes(self.cfg) else None
        _, vectors, index = self.det._require_fitted()
        nbrs = neighbour_ids(index, q, hashes, self.cfg)
        t2 = time.perf_counter()
        probs = head_probabilities(self.model, q, nbrs, self.det.pool_vectors, self.device)
        t3 = time.perf_counter()
        sec = self.seconds
        sec["pool"] += t1 - t0
        sec["search"] += t2 - t1
        sec["head"] += t3 - t2
        if self.cfg.neighbours != "retrieved":  # random / no neighbours are no evidence to cite in an alert
            return Prediction(probs=probs, neighbours=None, similarities=None)
        pool = vectors[nbrs] if nbrs.size else np.zeros((len(q), 0, q.shape[1]), np.float32)
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        pn = pool / np.maximum(np.linalg.norm(pool, axis=2, keepdims=True), 1e-12)
        sims = np.einsum("nh,nkh->nk", qn, pn).astype(np.float32)
        return Prediction(probs=probs, neighbours=nbrs, similarities=sims)

    @torch.inference_mode()
    def advance(self, slots: np.ndarray, tokens: np.ndarray, times_us: np.ndarray | None = None) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if slots.size == 0:
            return
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.min() < 1 or tokens.max() >= self.vocab_size:
            raise ValueError(f"tokens must lie in 1..{self.vocab_size - 1}")
        t0 = time.perf_counter()
        h = torch.from_numpy(self.state["h"][:, slots]).to(self.device)
        state: Any = (h, torch.from_numpy(self.state["c"][:, slots]).to(self.device)) if self._lstm else h
        out, new = self.model.encoder.encode_step(torch.from_numpy(tokens).to(self.device), state)
        out_np = out.float().cpu().numpy()
        if self._lstm:
            self.state["h"][:, slots] = new[0].float().cpu().numpy()
            self.state["c"][:, slots] = new[1].float().cpu().numpy()
        else:
            self.state["h"][:, slots] = new.float().cpu().numpy()
        lengths = self.state["length"][slots]
        if self.window:
            self.state["ring"][slots, lengths % self.window] = out_np
        else:
            for i, s in enumerate(slots):
                buf = self._hist[s]
                n = int(lengths[i])
                if buf is None or buf.shape[0] <= n:
                    grown = np.zeros((max(8, 2 * (n + 1)), self.cfg.hidden), dtype=np.float32)
                    if buf is not None:
                        grown[:n] = buf[:n]
                    self._hist[s] = buf = grown
                buf[n] = out_np[i]
        self.state["length"][slots] = lengths + 1
        self.state["hash"][slots] = hash_step(self.state["hash"][slots], tokens)
        self.seconds["encode"] += time.perf_counter() - t0

    # -- snapshots: the whole-prefix histories ride along as one flat array ------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        out = super().state_arrays()
        if not self.window:
            free = set(self._free)
            lengths = self.state["length"][: self._used].copy()
            for s in free:
                lengths[s] = 0
            parts = [
                h[: lengths[s]] for s, h in enumerate(self._hist[: self._used]) if lengths[s] > 0 and h is not None
            ]
            out["hist.lengths"] = lengths
            out["hist.flat"] = np.concatenate(parts) if parts else np.zeros((0, self.cfg.hidden), np.float32)
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super().load_state_arrays(arrays)
        if not self.window:
            lengths = arrays["hist.lengths"]
            flat = arrays["hist.flat"]
            self._hist = [None] * max(self._used, len(self._hist))
            at = 0
            for s, n in enumerate(lengths):
                if n > 0:
                    self._hist[s] = flat[at : at + n].copy()
                    at += int(n)

    # -- explanations ------------------------------------------------------------------------
    def _load_pool_info(self) -> dict[int, dict[str, Any]]:
        """Details of each pool prefix's last event, asked for once from `event_details`."""
        if self.event_details is None:
            return {}
        rows = self.det._require_fitted()[0].event_rows
        return self.event_details(np.unique(rows[rows >= 0]))

    def describe_neighbours(self, ids: np.ndarray) -> list[dict[str, Any]]:
        if self._pool_info is None:
            self._pool_info = self._load_pool_info()
        pool, _, _ = self.det._require_fitted()
        out = []
        for i in np.asarray(ids, dtype=np.int64):
            row = int(pool.event_rows[i])
            n = int(pool.lengths[i])
            d = {
                "pool_id": int(i),
                "length": n,
                "event_row": row,
                "activities": f"{n} activit{'y' if n == 1 else 'ies'}",
            }
            d.update(self._pool_info.get(row, {}))
            out.append(d)
        return out
