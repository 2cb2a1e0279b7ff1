"""A Triton model repository on disk: one directory per model."""

from __future__ import annotations

from pathlib import Path

from .model import Model


class ModelRepository:
    """The directory ``root`` holding ``<model>/config.pbtxt`` and ``<model>/<version>/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelRepository({str(self.root)!r})"

    def model(self, name: str) -> Model:
        """The model called ``name`` (its directory need not exist yet)."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"invalid model name {name!r}")
        return Model(self.root / name)

    def models(self) -> list[str]:
        """Names of the models present (directories holding a config.pbtxt)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "config.pbtxt").is_file())
