"""Export one training directory to a model repository and pin it as production
(runs in the exporter's environment, .venvs/exporter).

It calls the exporter's own export pipeline (:class:`deepclean_exporter.exporter.Exporter`,
what ``POST /export`` runs: ONNX export, ONNX-vs-torch check, atomic publish),
then ``PUT /production``'s equivalent, so the cleaner picks the version up
from ``pins.json`` exactly as in the running suite. Prints the version as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from deepclean.config import find_config, load_table
from deepclean_exporter.exporter import Exporter
from deepclean_exporter.settings import ExportSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--training-dir", type=Path, required=True)
    parser.add_argument("--model-repository", type=Path, required=True)
    parser.add_argument("--model-name", default="deepclean")
    args = parser.parse_args()

    base = load_table("export", find_config())
    settings = ExportSettings(
        model_repository=args.model_repository,
        model_name=args.model_name,
        training_root=args.training_dir.parent,
        witness_channels=tuple(base["witness_channels"]),
        sample_rate=base["sample_rate"],
    )
    exporter = Exporter(settings)
    exporter.start()
    began = time.perf_counter()
    version = exporter.export(str(args.training_dir)).version
    exporter.set_production(version)
    print(json.dumps({"version": version, "export_seconds": time.perf_counter() - began}))


if __name__ == "__main__":
    main()
