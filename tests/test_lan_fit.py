"""LAN's fit loop: per-session = per-prefix training, no own-session neighbours, sparse graphs,
the step budget and schedule, the ablation switches and the presets."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from neighborwatch.models.lan.config import PRESETS, LANConfig
from neighborwatch.models.lan.detector import LAN
from neighborwatch.models.lan.fit import (
    TrainingSet,
    batch_loss,
    build_index,
    lr_factor,
    select_samples,
    training_neighbours,
)
from neighborwatch.models.lan.graph import GraphLearner, edge_density
from neighborwatch.models.lan.model import LANModel
from neighborwatch.models.lan.retrieval import select_pool
from neighborwatch.models.lan.scoring import prefix_vectors
from neighborwatch.sequences.toy import toy_data

SMALL = dict(
    embed_dim=16,
    hidden=16,
    attention_heads=4,
    transformer_heads=4,
    k=5,
    batch_size=64,
    lr=3e-3,
    epochs=2,
    patience=2,
    mode="fast",
    device="cpu",
    threads=1,
    seed=3,
)
CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    return toy_data(seed=1, n_train=120, n_val=40, n_test=40)


def _setup(data, **kw):
    tr, ytr = data["train"]
    cfg = LANConfig(**{**SMALL, "dropout": 0.0, "gnn_dropout": 0.0, **kw})
    torch.manual_seed(0)
    model = LANModel(cfg)
    ts = TrainingSet(tr, ytr)
    pool = select_pool(tr, ytr, 0, 0, ts.hashes)
    pool.vectors = prefix_vectors(model, tr, pool.ends, CPU)
    index = build_index(pool, cfg)
    targets = select_samples(tr, ytr, cfg, 0)
    return model, ts, pool, index, targets


def _loss_and_grads(model, ts, batch, ids, pool, unit):
    model.cfg.train_unit = unit
    model.zero_grad()
    out = batch_loss(model, ts, batch, ids, pool, torch.from_numpy(pool.vectors), CPU)
    out.loss.backward()
    return out.loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("mode,encoder", [("fast", "lstm"), ("faithful", "lstm"), ("fast", "transformer")])
def test_per_session_and_per_prefix_training_give_the_same_loss_and_gradients(data, mode, encoder) -> None:
    model, ts, pool, index, targets = _setup(data, mode=mode, encoder=encoder)
    model.train()  # dropout is 0: train mode is deterministic
    batch = np.sort(np.random.default_rng(0).choice(targets, 96, replace=False))
    # several samples per session, as on real data, and one duplicate (an oversampled copy)
    batch = np.concatenate([batch, batch[:1]])
    assert len(np.unique(ts.session[batch - 1])) < len(np.unique(batch))
    ids = training_neighbours(model, ts, batch, pool, index, CPU)
    loss_s, grads_s = _loss_and_grads(model, ts, batch, ids, pool, "session")
    loss_p, grads_p = _loss_and_grads(model, ts, batch, ids, pool, "prefix")
    assert loss_s == pytest.approx(loss_p, abs=1e-5)
    assert grads_s.keys() == grads_p.keys() and "encoder.embedding.weight" in grads_s
    for name in grads_s:
        torch.testing.assert_close(grads_s[name], grads_p[name], atol=1e-5, rtol=1e-4, msg=name)


def test_training_queries_never_get_a_neighbour_from_their_own_session(data) -> None:
    model, ts, pool, index, targets = _setup(data, k=8)
    distinct = np.unique(targets)
    ids = training_neighbours(model, ts, distinct, pool, index, CPU)
    own = ts.session[distinct - 1]
    assert ids.shape == (len(distinct), 7)
    assert not (ts.session[pool.ends[ids]] == own[:, None]).any()
    # the rule bites: a plain search does return own-session prefixes for many queries
    queries = prefix_vectors(model, ts.seqs, distinct - 1, CPU)
    plain = index.search(queries, 7, ts.hashes[distinct - 1])
    assert (ts.session[pool.ends[plain]] == own[:, None]).any(axis=1).mean() > 0.2
    # and the neighbours are still the nearest allowed ones (exact index): the first allowed
    # candidates of a full ranking
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    p = pool.vectors / np.linalg.norm(pool.vectors, axis=1, keepdims=True)
    for row in range(0, len(distinct), 25):
        ranked = np.argsort(-(p @ q[row]), kind="stable")
        ok = [
            i for i in ranked if ts.session[pool.ends[i]] != own[row] and pool.hashes[i] != ts.hashes[distinct[row] - 1]
        ]
        assert set(ids[row].tolist()) == set(ok[:7])


def test_random_neighbours_also_skip_the_own_session(data) -> None:
    model, ts, pool, index, targets = _setup(data, neighbours="random")
    distinct = np.unique(targets)
    ids = training_neighbours(model, ts, distinct, pool, index, CPU)
    assert not (ts.session[pool.ends[ids]] == ts.session[distinct - 1][:, None]).any()
    assert len(np.unique(ids)) > 0.5 * len(pool)  # spread over the pool, not the nearest few


def test_centred_and_top_m_graphs_are_sparse_where_the_paper_graph_is_dense() -> None:
    # 15 near-copies (mean cosine ~0.98, as measured on retrieved neighbours)
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1, 1, 32, generator=g)
    h = base + 0.15 * torch.randn(4, 15, 32, generator=g)
    paper = GraphLearner(32, 4, 0.5, "cosine", "absolute")(h)
    assert edge_density(paper) == 1.0
    centred = GraphLearner(32, 4, 0.5, "cosine", "centred")(h)
    assert 0.1 < edge_density(centred) < 0.5
    kept = centred != 0  # the kept edges are the most similar pairs of each graph
    sims = GraphLearner(32, 4, 0.5, "cosine").similarity(h)
    off = ~torch.eye(15, dtype=torch.bool)
    assert sims[kept].min() > sims[off[None].expand_as(kept) & ~kept].mean()
    top = GraphLearner(32, 4, 0.5, "cosine", "top_m", top_m=3)(h)
    assert (top != 0).sum(-1).min() >= 3 and edge_density(top) < 0.5
    assert torch.equal(top, top.transpose(-1, -2)) and torch.equal(centred, centred.transpose(-1, -2))


def test_lr_schedule_warms_up_then_decays_to_zero() -> None:
    f = [lr_factor(s, 10, 110, "cosine") for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[60] == pytest.approx(0.5) and f[109] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(f[10:]))
    assert lr_factor(50, 0, 110, "constant") == 1.0
    assert lr_factor(0, 300, 100, "cosine") == pytest.approx(0.1)  # warm-up capped at 10 % of 100 steps


def test_step_budget_history_and_edge_density_are_recorded(data) -> None:
    (tr, ytr), (va, yva) = data["train"], data["validation"]
    cfg = LANConfig(
        **{
            **SMALL,
            "max_steps": 7,
            "epoch_steps": 3,
            "epochs": 10,
            "patience": 0,
            "warmup_steps": 2,
            "lr_schedule": "cosine",
            "clip_norm": 1.0,
            "sparsify": "centred",
        }
    )
    det = LAN(cfg).fit(tr, ytr, va, yva)
    h = det.history
    assert [r["steps"] for r in h] == [3, 6, 7]
    assert all(r["samples"] == 3 * 64 for r in h[:2]) and h[2]["samples"] <= 64
    for r in h:
        for key in (
            "samples_per_cpu_s",
            "samples_per_s",
            "train_s",
            "train_cpu_s",
            "pool_s",
            "val_s",
            "retrieval_s",
            "val_auc",
            "lr",
        ):
            assert key in r and r[key] >= 0, key
        assert 0 < r["edge_density"] < 1
    assert h[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # the cosine ran to the end of the budget


def test_a_probe_sees_every_epochs_scores_and_changes_nothing(data) -> None:
    (tr, ytr), (va, yva) = data["train"], data["validation"]
    test = data["test"][0]
    cfg = LANConfig(**{**SMALL, "max_steps": 4, "epoch_steps": 2, "epochs": 10, "patience": 0})
    seen: list[np.ndarray] = []

    def probe(score):
        seen.append(score(test))
        return {"n": int(np.isfinite(seen[-1]).sum())}

    probed = LAN(cfg).fit(tr, ytr, va, yva, probe=probe)
    plain = LAN(cfg).fit(tr, ytr, va, yva)
    assert [r["probe"]["n"] for r in probed.history] == [int(np.isfinite(s).sum()) for s in seen]
    assert len(seen) == 2 and not np.allclose(seen[0], seen[1], equal_nan=True)  # the model moved
    assert [r["loss"] for r in probed.history] == [r["loss"] for r in plain.history]
    np.testing.assert_allclose(probed.score_activities(test), plain.score_activities(test), equal_nan=True)
    np.testing.assert_allclose(probed.score_activities(test), seen[probed.best_epoch - 1], equal_nan=True)


def test_normal_only_loss_drops_malicious_targets_and_oversampling(data) -> None:
    tr, ytr = data["train"]
    hybrid = select_samples(tr, ytr, LANConfig(**SMALL), 0)
    plain = select_samples(tr, ytr, LANConfig(**SMALL, loss="normal_only"), 0)
    assert ytr[hybrid].sum() > 0 and ytr[plain].sum() == 0
    assert set(plain.tolist()) == set(hybrid[~ytr[hybrid]].tolist())


@pytest.mark.parametrize(
    "variant",
    [
        {"neighbours": "random"},
        {"neighbours": "none", "k": 1},
        {"loss": "normal_only"},
        {"inference_retrieval": False},
        {"encoder": "gru", "sparsify": "top_m"},
    ],
)
def test_ablation_variants_train_and_score(data, variant) -> None:
    (tr, ytr), (va, yva), (te, _) = data["train"], data["validation"], data["test"]
    det = LAN(LANConfig(**{**SMALL, "epochs": 1, **variant})).fit(tr, ytr, va, yva)
    s = det.score_activities(te)
    assert np.isfinite(s[~np.isnan(s)]).all()
    if variant.get("inference_retrieval") is False:  # scores do not depend on the pool at all
        det.pool.vectors = det.pool.vectors[::-1].copy()
        det._pool_tensor = None
        np.testing.assert_array_equal(det.score_activities(te), s)
    if variant.get("neighbours") == "random":  # a prefix's random neighbours are a fixed function of it
        np.testing.assert_array_equal(det.score_activities(te), s)


@pytest.mark.parametrize(
    "bad",
    [
        {"neighbours": "none"},
        {"neighbours": "near"},
        {"k": 1},
        {"sparsify": "learned"},
        {"loss": "bce"},
        {"inference_retrieval": 1},
        {"train_unit": "day"},
        {"lr_schedule": "step"},
        {"max_steps": -1},
        {"clip_norm": -1.0},
        {"top_m": 0},
        {"preset": "fastest"},
    ],
)
def test_new_switches_are_validated(bad) -> None:
    with pytest.raises(ValueError):
        LANConfig(**bad)


def test_presets() -> None:
    paper = LANConfig.from_preset("paper")
    assert (paper.mode, paper.lr, paper.batch_size, paper.epochs, paper.patience) == ("faithful", 1e-5, 512, 10, 3)
    assert (paper.sparsify, paper.epsilon, paper.lr_schedule, paper.clip_norm, paper.max_steps) == (
        "absolute",
        0.5,
        "constant",
        0.0,
        0,
    )
    assert paper.preset == "paper" and paper.replace(preset="") == LANConfig()  # the defaults are the paper
    quick = LANConfig.from_preset("quick", k=7)
    assert quick.preset == "quick" and quick.k == 7 and quick.mode == "fast" and quick.max_steps > 0
    assert quick.lr_schedule == "cosine" and quick.warmup_steps > 0 and quick.clip_norm > 0
    assert set(PRESETS) == {"quick", "paper"}
    with pytest.raises(ValueError, match="unknown preset"):
        LANConfig.from_preset("nope")
    assert math.isfinite(quick.lr)
