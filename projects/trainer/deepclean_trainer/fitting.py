"""The training loop: Adam with weight decay, learning-rate reduction on a
validation plateau, early stopping, and the best weights kept.

One "epoch" here is ``steps_per_epoch`` random batches followed by a
validation pass; the schedulers and early stopping act per epoch.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .batches import WindowSampler

log = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """Training was asked to stop (SIGTERM/SIGINT) before it finished."""


@dataclass(frozen=True)
class FitSettings:
    """Optimisation settings (the trainer's configuration keys of the same names)."""

    batch_size: int
    max_epochs: int
    steps_per_epoch: int
    learning_rate: float
    weight_decay: float
    lr_patience: int
    lr_factor: float
    early_stop_patience: int
    max_train_seconds: float | None = None
    budget_clock: str = "wall"  # "wall", or "cpu": process CPU time / torch threads (a shared machine)


@dataclass
class EpochRecord:
    epoch: int
    steps: int
    train_loss: float
    validation_loss: float
    learning_rate: float
    seconds: float


@dataclass
class FitResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_state: dict | None = None
    best_validation_loss: float = math.inf
    best_epoch: int = 0
    stop_reason: str = "max_epochs"
    seconds: float = 0.0


def evaluate(network: nn.Module, loss: nn.Module, witnesses: torch.Tensor, targets: torch.Tensor, batch: int) -> float:
    """The loss over fixed windows, evaluated in eval mode (running batch-norm statistics).

    The in-band PSDs are pooled over every window before the ratio is taken,
    as in training.
    """
    network.eval()
    predictions = []
    with torch.no_grad():
        for begin in range(0, len(witnesses), batch):
            predictions.append(network(witnesses[begin : begin + batch]))
        value = float(loss(torch.cat(predictions), targets))
    network.train()
    return value


def _format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def fit(
    network: nn.Module,
    loss: nn.Module,
    sampler: WindowSampler,
    validation: tuple[torch.Tensor, torch.Tensor],
    settings: FitSettings,
    device: torch.device,
    stop: threading.Event | None = None,
) -> FitResult:
    """Train ``network`` in place and return the history and the best weights.

    Raises
    ------
    TrainingInterrupted
        ``stop`` was set; checked before every step.
    """
    network.to(device).train()
    loss.to(device)
    val_witnesses, val_targets = (t.to(device) for t in validation)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=settings.lr_factor, patience=settings.lr_patience
    )
    result = FitResult()
    started = time.monotonic()
    cpu_started = time.process_time()

    def budget_used() -> float:
        if settings.budget_clock == "cpu":
            return (time.process_time() - cpu_started) / torch.get_num_threads()
        return time.monotonic() - started

    # the starting point counts as epoch 0: a network that starts at a closed-form fit
    # (linear_init) is kept unless gradient descent improves on it
    result.best_validation_loss = evaluate(network, loss, val_witnesses, val_targets, settings.batch_size)
    if math.isfinite(result.best_validation_loss):
        result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in network.state_dict().items()})
    else:
        result.best_validation_loss = math.inf
    log.info("before training: validation loss %.4f", result.best_validation_loss)

    budget_reason = f"{settings.budget_clock} time budget of {settings.max_train_seconds} s reached"

    def over_budget() -> bool:
        return settings.max_train_seconds is not None and budget_used() > settings.max_train_seconds

    epochs_without_improvement, total_steps = 0, 0
    for epoch in range(1, settings.max_epochs + 1):
        running, steps = 0.0, 0
        for _ in range(settings.steps_per_epoch):
            if stop is not None and stop.is_set():
                raise TrainingInterrupted(f"stopped during epoch {epoch}")
            if over_budget():  # a slow step (a loaded machine) must not overrun the budget by an epoch
                break
            witnesses, targets = sampler.batch(settings.batch_size)
            value = loss(network(witnesses.to(device)), targets.to(device))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            running += float(value.detach())
            steps += 1
        if steps == 0:
            result.stop_reason = budget_reason
            break
        total_steps += steps
        validation_loss = evaluate(network, loss, val_witnesses, val_targets, settings.batch_size)
        elapsed = time.monotonic() - started
        record = EpochRecord(
            epoch=epoch,
            steps=total_steps,
            train_loss=running / steps,
            validation_loss=validation_loss,
            learning_rate=optimizer.param_groups[0]["lr"],
            seconds=elapsed,
        )
        result.history.append(record)
        if not math.isfinite(validation_loss):
            result.stop_reason = "validation loss is not finite"
            log.warning("epoch %d: validation loss %s, stopping", epoch, validation_loss)
            break
        if validation_loss < result.best_validation_loss:
            result.best_validation_loss, result.best_epoch = validation_loss, epoch
            result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in network.state_dict().items()})
            epochs_without_improvement = 0
        else:
            epochs_without_improvement += 1
        eta = elapsed / epoch * (settings.max_epochs - epoch)
        log.info(
            "epoch %d/%d  train loss %.4f  validation loss %.4f  best %.4f (epoch %d)  lr %.2e  %s elapsed  ETA %s",
            epoch,
            settings.max_epochs,
            record.train_loss,
            validation_loss,
            result.best_validation_loss,
            result.best_epoch,
            record.learning_rate,
            _format_seconds(elapsed),
            _format_seconds(eta),
        )
        plateau.step(validation_loss)
        if epochs_without_improvement >= settings.early_stop_patience:
            result.stop_reason = f"early stop: no improvement in {epochs_without_improvement} epochs"
            break
        used = budget_used()
        if settings.max_train_seconds is not None and (
            steps < settings.steps_per_epoch or used + used / epoch > settings.max_train_seconds
        ):
            result.stop_reason = budget_reason
            break
    result.seconds = time.monotonic() - started
    log.info(
        "training stopped after %d epochs (%s); best validation loss %.4f at epoch %d",
        len(result.history),
        result.stop_reason,
        result.best_validation_loss,
        result.best_epoch,
    )
    return result
