"""LAN building blocks against hand-computed values (LAN.md §3-4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neighborwatch.models.lan.config import LANConfig
from neighborwatch.models.lan.gnn import DenseGAT, DenseGCN, gcn_normalise
from neighborwatch.models.lan.graph import GraphLearner, epsilon_mask, graph_regulariser, weighted_cosine
from neighborwatch.models.lan.loss import hybrid_loss, hybrid_targets
from neighborwatch.models.lan.model import LANModel
from neighborwatch.models.lan.retrieval import EMPTY_HASH, NeighbourIndex, hash_step, prefix_hashes, select_pool
from neighborwatch.sequences.toy import toy_split


# -- loss ---------------------------------------------------------------------------------------
def test_hybrid_targets_one_hot_for_normal_and_push_away_for_malicious() -> None:
    t = hybrid_targets(torch.tensor([2, 2, 0]), torch.tensor([False, True, True]), 5)
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert t[0].tolist() == [0, 0, 1, 0, 0]
    assert t[1, 2] == 0 and torch.allclose(t[1, [0, 1, 3, 4]], torch.full((4,), 0.25))
    assert t[2, 0] == 0 and torch.allclose(t[2, 1:], torch.full((4,), 0.25))


def test_hybrid_loss_value_on_tiny_example() -> None:
    # softmax([0, ln 2, 0, 0]) = [1/5, 2/5, 1/5, 1/5]
    logits = torch.tensor([[0.0, math.log(2), 0.0, 0.0]] * 2)
    nxt = torch.tensor([1, 1])
    mal = torch.tensor([False, True])
    normal_ce = -math.log(2 / 5)  # one-hot on class 1
    malicious_ce = -3 * (1 / 3) * math.log(1 / 5)  # uniform over classes 0, 2, 3
    expected = (1 * normal_ce + 11 * malicious_ce) / 2  # weights 1 + r·y with r = 10
    assert hybrid_loss(logits, nxt, mal, 10.0).item() == pytest.approx(expected, rel=1e-6)


# -- graph --------------------------------------------------------------------------------------
def test_epsilon_mask_keeps_only_strictly_greater_and_drops_diagonal() -> None:
    s = torch.tensor([[[1.0, 0.6, 0.4], [0.6, 1.0, 0.5], [0.4, 0.5, 1.0]]])
    expected = torch.tensor([[[0.0, 0.6, 0.0], [0.6, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    assert torch.equal(epsilon_mask(s, 0.5), expected)


def test_epsilon_mask_passes_gradient_only_through_kept_entries() -> None:
    s = torch.tensor([[[1.0, 0.7], [0.3, 1.0]]], requires_grad=True)
    epsilon_mask(s, 0.5).sum().backward()
    assert s.grad.tolist() == [[[0.0, 1.0], [0.0, 0.0]]]


def test_weighted_cosine_matches_manual_computation() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(2, 3, 4, generator=g)
    w = torch.randn(5, 4, generator=g)
    got = weighted_cosine(h, w)
    hn, wn = h.numpy(), w.numpy()
    for b in range(2):
        for i in range(3):
            for j in range(3):
                cos = []
                for p in range(5):
                    u, v = wn[p] * hn[b, i], wn[p] * hn[b, j]
                    cos.append(float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v))))
                assert got[b, i, j].item() == pytest.approx(np.mean(cos), abs=1e-6)


def test_plain_cosine_graph_learner() -> None:
    h = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    a = GraphLearner(2, 4, 0.5, kind="cosine")(h)
    c = 1 / math.sqrt(2)  # cos(45°) > 0.5; cos(90°) = 0 is masked
    assert torch.allclose(a, torch.tensor([[[0, c, 0], [c, 0, c], [0, c, 0]]]), atol=1e-6)


def test_gcn_normalisation_on_a_three_node_path() -> None:
    a = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
    # A + I has degrees 2, 3, 2
    r6 = 1 / math.sqrt(6)
    expected = torch.tensor([[[1 / 2, r6, 0.0], [r6, 1 / 3, r6], [0.0, r6, 1 / 2]]])
    assert torch.allclose(gcn_normalise(a), expected, atol=1e-7)


def test_gcn_normalisation_with_weighted_edges() -> None:
    a = torch.tensor([[[0.0, 0.5], [0.5, 0.0]]])
    # A + I = [[1, .5], [.5, 1]], degrees 1.5 → every entry divided by 1.5
    assert torch.allclose(gcn_normalise(a), torch.tensor([[[1 / 1.5, 0.5 / 1.5], [0.5 / 1.5, 1 / 1.5]]]))


def test_gcn_isolated_query_ignores_neighbours() -> None:
    gcn = DenseGCN(4, 2, dropout=0.0)
    x = torch.randn(1, 3, 4)
    a = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.9], [0.0, 0.9, 0.0]]])
    x2 = x.clone()
    x2[0, 1:] = torch.randn(2, 4)
    assert torch.allclose(gcn(x, a)[0, 0], gcn(x2, a)[0, 0])


def test_gat_respects_edges() -> None:
    gat = DenseGAT(4, 2, heads=2, dropout=0.0)
    x = torch.randn(1, 3, 4)
    a = torch.tensor([[[0.0, 0.8, 0.0], [0.8, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    x2 = x.clone()
    x2[0, 2] = torch.randn(4)  # node 2 is not linked to the query
    assert torch.allclose(gat(x, a)[0, 0], gat(x2, a)[0, 0], atol=1e-6)
    x3 = x.clone()
    x3[0, 1] = torch.randn(4)  # node 1 is
    assert not torch.allclose(gat(x, a)[0, 0], gat(x3, a)[0, 0])


def test_graph_regulariser_value() -> None:
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [3.0, 4.0]]])
    a = torch.tensor([[[0.0, 0.8], [0.8, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    # graph 0: tr(HᵀLH) = ½ Σ A_ij ‖h_i − h_j‖² = ½ (0.8·2 + 0.8·2) = 1.6; graph 1: 0
    smooth = (1.6 / 4 + 0.0) / 2  # mean over B of tr/k²
    sparse = (0.8**2 * 2) / (4 * 2)  # ‖A‖²_F / (k² B)
    got = graph_regulariser(h, a, 0.2, 0.1).item()
    assert got == pytest.approx(0.2 * smooth + 0.1 * sparse, rel=1e-6)


# -- encoder + pooling --------------------------------------------------------------------------
def _small(**kw) -> LANConfig:
    base = dict(embed_dim=16, hidden=16, attention_heads=4, transformer_heads=4, k=3, vocab_size=20)
    base.update(kw)
    return LANConfig(**base)


@pytest.mark.parametrize("encoder", ["lstm", "gru", "rnn", "transformer"])
@pytest.mark.parametrize("pooling,window", [("attention", 0), ("attention", 3), ("mean", 0), ("mean", 3)])
def test_one_session_pass_equals_encoding_each_prefix_alone(encoder: str, pooling: str, window: int) -> None:
    torch.manual_seed(0)
    model = LANModel(_small(encoder=encoder, pooling=pooling, attention_window=window)).eval()
    tokens = torch.tensor([[3, 7, 1, 19, 4, 4, 2, 11, 5], [6, 2, 8, 9, 0, 0, 0, 0, 0]])
    lengths = [9, 4]
    with torch.no_grad():
        every = model.encode_all_prefixes(tokens)
        for row, n in enumerate(lengths):
            for i in range(1, n + 1):
                alone = model.encode_prefixes(tokens[row : row + 1, :i], torch.tensor([i]))
                assert torch.allclose(every[row, i - 1], alone[0], atol=1e-5), (row, i)
        # and a batch of prefixes of different lengths, right-padded, gives the same vectors
        batch = torch.tensor([[3, 7, 1, 0, 0], [3, 7, 1, 19, 4]])
        got = model.encode_prefixes(batch, torch.tensor([3, 5]))
        assert torch.allclose(got, every[0, [2, 4]], atol=1e-5)


@pytest.mark.parametrize("encoder", ["lstm", "gru", "rnn", "transformer"])
def test_encode_step_gives_the_batch_hidden_states(encoder: str) -> None:
    torch.manual_seed(0)
    model = LANModel(_small(encoder=encoder)).eval()
    tokens = torch.tensor([[3, 7, 1, 19, 4], [6, 2, 8, 9, 10]])
    with torch.no_grad():
        full = model.encoder(tokens)
        state = None
        for t in range(tokens.shape[1]):
            h, state = model.encoder.encode_step(tokens[:, t], state)
            assert torch.allclose(h, full[:, t], atol=1e-5)


def test_head_shapes_and_query_first() -> None:
    model = LANModel(_small()).eval()
    out = model.head(torch.randn(6, 16), torch.randn(6, 2, 16))
    assert out.logits.shape == (6, 20) and out.adjacency.shape == (6, 3, 3) and out.nodes.shape == (6, 3, 16)


# -- retrieval ----------------------------------------------------------------------------------
def test_prefix_hashes_identify_token_prefixes_and_step_incrementally() -> None:
    seqs, _ = toy_split(30, 0.0, np.random.default_rng(1), "train", 0)
    h = prefix_hashes(seqs)
    by_prefix: dict[tuple[int, ...], set[int]] = {}
    for s in range(len(seqs)):
        toks = seqs.sequence(s)
        running = EMPTY_HASH
        for i in range(len(toks)):
            running = hash_step(np.array([running]), np.array([toks[i]]))[0]
            assert running == h[seqs.offsets[s] + i]
            by_prefix.setdefault(tuple(toks[: i + 1].tolist()), set()).add(int(h[seqs.offsets[s] + i]))
    assert all(len(v) == 1 for v in by_prefix.values())  # same tokens → same hash
    assert len({next(iter(v)) for v in by_prefix.values()}) == len(by_prefix)  # no collision


def test_pool_holds_distinct_prefixes_with_a_normal_next_activity() -> None:
    seqs, _ = toy_split(40, 0.0, np.random.default_rng(2), "train", 0)
    labels = np.zeros(seqs.n_activities, dtype=bool)
    labels[seqs.offsets[3] + 2] = True  # the prefix of length 2 of sequence 3 precedes a malicious one
    pool = select_pool(seqs, labels)
    pos = seqs.position_in_sequence()
    expected = set()
    for p in np.flatnonzero((pos >= 1) & ~labels):
        s = seqs.seq_index()[p]
        expected.add(tuple(seqs.tokens[seqs.offsets[s] : p].tolist()))
    got = {tuple(seqs.tokens[e - l + 1 : e + 1].tolist()) for e, l in zip(pool.ends, pool.lengths)}
    assert got == expected and len(pool) == len(expected)
    assert (pool.event_rows == seqs.event_rows[pool.ends]).all()


@pytest.mark.parametrize("exact_below", [1_000_000, 1])  # exact index, HNSW
def test_index_returns_nearest_and_skips_identical_prefix(exact_below: int) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    hashes = np.arange(50, dtype=np.int64) * 7919
    index = NeighbourIndex(vectors, hashes, exact_below=exact_below, m=16, ef_search=64)
    assert index.exact == (exact_below > 50)
    q = vectors[[4, 9]] * 3.0  # scale does not matter: cosine
    ids = index.search(q, 3)
    assert ids[:, 0].tolist() == [4, 9]
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = np.argsort(-(normed[[4, 9]] @ normed.T), axis=1)[:, :4]
    assert ids.tolist() == expected[:, :3].tolist()
    skipped = index.search(q, 3, query_hashes=hashes[[4, 9]])
    assert skipped.tolist() == expected[:, 1:4].tolist()
    # a query whose prefix is not in the pool keeps its top 3
    assert index.search(q, 3, query_hashes=np.array([-1, -1])).tolist() == expected[:, :3].tolist()


# -- config -------------------------------------------------------------------------------------
def test_config_defaults_are_the_paper_and_round_trip(tmp_path) -> None:
    cfg = LANConfig()
    assert (cfg.k, cfg.perspectives, cfg.epsilon, cfg.lr, cfg.batch_size, cfg.epochs, cfg.patience, cfg.seed) == (
        15,
        4,
        0.5,
        1e-5,
        512,
        10,
        3,
        42,
    )
    assert (cfg.vocab_size, cfg.hidden, cfg.layers, cfg.dropout, cfg.attention_heads, cfg.malicious_weight) == (
        169,
        128,
        2,
        0.3,
        8,
        10.0,
    )
    changed = cfg.replace(encoder="gru", mode="fast", k=None)
    changed.to_json(tmp_path / "c.json")
    assert LANConfig.from_json(tmp_path / "c.json") == changed and changed.k == 15


@pytest.mark.parametrize(
    "bad", [{"encoder": "cnn"}, {"mode": "quick"}, {"k": 0}, {"hidden": 30}, {"normal_rate": 0.0}, {"nope": 1}]
)
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        LANConfig.from_dict(bad)


# -- training batches ---------------------------------------------------------------------------
@pytest.mark.parametrize("buckets", [0, 5])
def test_pass_order_covers_every_sample_once_and_groups_units(buckets: int) -> None:
    from neighborwatch.models.lan.fit import pass_order

    rng = np.random.default_rng(0)
    units = np.sort(rng.integers(0, 30, size=200))  # 30 sessions, samples in flat order
    lengths = rng.integers(1, 60, size=30)
    order = pass_order(units, lengths, 8, buckets, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(200))
    seen = units[order]
    assert (np.diff(seen) != 0).sum() == len(np.unique(units)) - 1  # each session's samples together
    first = [order[seen == u] for u in np.unique(units)]
    assert all((np.diff(f) > 0).all() for f in first)  # in flat order inside a session
    runs = seen[np.r_[True, np.diff(seen) != 0]]
    if buckets:  # sorted by length within chunks of 40 units (all 30 here)
        assert (np.diff(lengths[runs]) >= 0).all()
    else:
        assert (np.diff(lengths[runs]) < 0).any()
    again = pass_order(units, lengths, 8, buckets, np.random.default_rng(2))
    assert not np.array_equal(order, again)  # another pass, another session order


def test_gcn_query_only_equals_row_zero_of_the_full_pass() -> None:
    torch.manual_seed(0)
    gcn = DenseGCN(8, 2, dropout=0.0)
    x = torch.randn(3, 5, 8, requires_grad=True)
    a = torch.rand(3, 5, 5)
    a = (a + a.transpose(1, 2)) * (1 - torch.eye(5))
    full, part = gcn(x, a)[:, 0], gcn(x, a, query_only=True)[:, 0]
    torch.testing.assert_close(part, full, atol=1e-6, rtol=1e-5)
    g_full = torch.autograd.grad(full.sum(), [x, *gcn.parameters()])
    g_part = torch.autograd.grad(part.sum(), [x, *gcn.parameters()])
    for u, v in zip(g_full, g_part):
        torch.testing.assert_close(u, v, atol=1e-5, rtol=1e-4)
