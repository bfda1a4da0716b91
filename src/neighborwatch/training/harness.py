"""The fit loop every torch detector shares (in the spirit of PyOD's `BaseDeepLearningDetector`).

A detector supplies only what is its own — the network, the batches of an epoch and the loss of
one batch, and (optionally) how to judge an epoch on validation; `fit_epochs` does the rest the
same way for all: train mode, zero-grad / backward / gradient clipping / step, one progress bar,
the per-epoch history, `EarlyStopping(mode, patience)` on the validation value with a checkpoint
of the best epoch, and that epoch's weights restored at the end (eval mode). Seeding
(`training.seed`) and the device (`training.device`) are the caller's first two lines, so a
detector that is not trained by this loop (LAN's own, with its pool refresh) uses the same ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neighborwatch.progress import progress
from neighborwatch.training.early_stopping import EarlyStopping

#: the file a torch detector's weights live in, next to its detector.json
WEIGHTS = "weights.safetensors"

#: one training step's input: (number of items it holds, whatever the loss function takes)
Step = tuple[int, Any]


@dataclass(frozen=True)
class FitLoop:
    """How long and how carefully to train (the detector's config supplies the numbers)."""

    max_epochs: int
    patience: int = 0  # epochs without validation improvement before stopping (0 = run them all)
    min_delta: float = 0.0  # what counts as an improvement
    mode: str = "min"  # the validation value is a loss ("min") or a score ("max")
    grad_clip: float = 5.0  # max gradient norm (0 = no clipping)


def fit_epochs(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    loop: FitLoop,
    epoch_steps: Callable[[int], Iterable[Step]],
    loss: Callable[[Any], torch.Tensor],
    validate: Callable[[], float] | None = None,
    label: str = "training",
    steps_per_epoch: int | None = None,
) -> list[dict[str, float]]:
    """Train `module`, keep the best epoch (by `validate`, else by the training loss); returns
    the history: one {epoch, train_loss, val_loss, seconds} per epoch run."""
    stopper = EarlyStopping(loop.patience, loop.min_delta, loop.mode)
    params = [p for p in module.parameters() if p.requires_grad]
    history: list[dict[str, float]] = []
    with progress() as bar:
        task = bar.add_task(label, total=loop.max_epochs * steps_per_epoch if steps_per_epoch else loop.max_epochs)
        for epoch in range(loop.max_epochs):
            t0 = time.perf_counter()
            module.train()
            total, count = 0.0, 0
            for n, batch in epoch_steps(epoch):
                value = loss(batch)
                optimizer.zero_grad()
                value.backward()
                if loop.grad_clip:
                    nn.utils.clip_grad_norm_(params, loop.grad_clip)
                optimizer.step()
                total += float(value.detach()) * n
                count += n
                if steps_per_epoch:
                    bar.advance(task)
            if not steps_per_epoch:
                bar.advance(task)
            train_loss = total / max(count, 1)
            val_loss = validate() if validate is not None else train_loss
            history.append(
                {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": time.perf_counter() - t0}
            )
            bar.update(task, description=f"{label}: epoch {epoch + 1}, validation {val_loss:.4f}")
            stopper.update(epoch, val_loss, module.state_dict())
            if stopper.should_stop:
                break
    if stopper.checkpoint is not None:
        module.load_state_dict(stopper.checkpoint)
    module.eval()
    return history


def save_weights(module: nn.Module, folder: str | Path) -> None:
    """The module's state as safetensors (tensors only: nothing a loader could execute)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(Path(folder) / WEIGHTS))


def load_weights(module: nn.Module, folder: str | Path, device: torch.device | None = None) -> nn.Module:
    """`module` with the weights `save_weights` wrote, on `device`, in eval mode."""
    from safetensors.torch import load_file

    module.load_state_dict(load_file(str(Path(folder) / WEIGHTS)))
    return module.to(device or torch.device("cpu")).eval()
