"""Tests of the optimisation loop's time budget."""

from __future__ import annotations

import time

import torch
from torch import nn

from deepclean_trainer.fitting import FitSettings, fit


class SlowSampler:
    """Random batches that take ``delay`` seconds each (a loaded machine)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(self.delay)
        return torch.randn(size, 2, 64), torch.randn(size, 64)


class MeanSquare(nn.Module):
    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean((prediction - target) ** 2)


class Pointwise(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[:, 0]


def test_the_budget_stops_training_within_an_epoch():
    """With 200 slow steps per epoch and a 1 s budget, training stops after about 1 s, not one epoch,
    and keeps the partial epoch's weights."""
    settings = FitSettings(
        batch_size=4,
        max_epochs=5,
        steps_per_epoch=200,
        learning_rate=1e-3,
        weight_decay=0.0,
        lr_patience=2,
        lr_factor=0.5,
        early_stop_patience=5,
        max_train_seconds=1.0,
    )
    validation = (torch.randn(4, 2, 64), torch.randn(4, 64))
    began = time.monotonic()
    result = fit(Pointwise(), MeanSquare(), SlowSampler(0.05), validation, settings, torch.device("cpu"))
    assert time.monotonic() - began < 5.0  # an epoch takes at least 10 s
    assert "time budget" in result.stop_reason
    assert len(result.history) == 1 and 5 <= result.history[0].steps < 200
    assert result.best_state is not None
