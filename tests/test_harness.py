"""The shared torch harness: early stopping in both directions, best-epoch restore, clipping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from neighborwatch.training.early_stopping import EarlyStopping
from neighborwatch.training.harness import FitLoop, fit_epochs


@pytest.mark.parametrize(
    "mode, values, best_epoch, stops_after",
    [
        ("max", [0.5, 0.7, 0.6, 0.65, 0.9], 1, 3),  # stale twice after epoch 1 → stop at epoch 3
        ("min", [3.0, 2.0, 2.5, 2.1, 1.0], 1, 3),
        ("min", [math.nan, 2.0, 2.5, 2.6, 1.0], 1, 3),  # NaN never counts as an improvement
    ],
)
def test_early_stopping_keeps_the_best_and_stops_when_stale(mode, values, best_epoch, stops_after) -> None:
    stop = EarlyStopping(patience=2, mode=mode)
    for epoch, v in enumerate(values):
        stop.update(epoch, v, {"epoch": epoch})
        if stop.should_stop:
            break
    assert epoch == stops_after and stop.best_epoch == best_epoch and stop.checkpoint == {"epoch": best_epoch}


def test_early_stopping_defaults_stay_what_lan_uses() -> None:
    stop = EarlyStopping(3)  # positional patience, higher is better
    assert stop.mode == "max" and stop.update(0, 0.1, None) and not stop.update(1, 0.05, None)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(1, mode="up")


def test_fit_epochs_restores_the_best_epoch_and_clips_gradients() -> None:
    torch.manual_seed(0)
    net = nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(16, 2), torch.randn(16, 1)
    seen: list[torch.Tensor] = []
    grad_norms: list[float] = []
    val_losses = iter([5.0, 1.0, 3.0, 4.0, 0.5])

    def validate() -> float:
        seen.append(net.weight.detach().clone())
        return next(val_losses)

    def loss(batch):
        out = ((net(batch[0]) - batch[1]) ** 2).mean() * 1000.0  # a huge gradient: clipped
        return out

    def steps(epoch):
        yield 16, (x, y)

    original_step = opt.step

    def step(*args, **kwargs):
        grad_norms.append(float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in net.parameters()]))))
        return original_step(*args, **kwargs)

    opt.step = step  # type: ignore[method-assign]
    history = fit_epochs(net, opt, FitLoop(max_epochs=5, patience=2, mode="min", grad_clip=1.0), steps, loss, validate)
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]  # epoch 1 best, two stale epochs → stop
    torch.testing.assert_close(net.weight, seen[1])
    assert not net.training and max(grad_norms) <= 1.0 + 1e-5
