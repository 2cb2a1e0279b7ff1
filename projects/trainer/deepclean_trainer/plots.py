"""The loss-curve plot of a training run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_loss_curve(history: list[dict], path: Path, title: str) -> None:
    """Training and validation loss per epoch (log scale), the learning rate on a twin axis."""
    figure, axes = plt.subplots(figsize=(7, 4), constrained_layout=True)
    try:
        steps = [record["steps"] for record in history]
        axes.plot(steps, [record["train_loss"] for record in history], label="training", marker=".")
        axes.plot(steps, [record["validation_loss"] for record in history], label="validation", marker=".")
        axes.set_yscale("log")
        axes.set_xlabel("optimiser steps")
        axes.set_ylabel("in-band PSD ratio (loss)")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
        rate_axes = axes.twinx()
        rate_axes.step(steps, [record["learning_rate"] for record in history], color="grey", alpha=0.5, where="post")
        rate_axes.set_yscale("log")
        rate_axes.set_ylabel("learning rate", color="grey")
        axes.legend(loc="upper right")
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
