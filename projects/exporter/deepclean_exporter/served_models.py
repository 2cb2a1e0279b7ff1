"""The models one exporter serves from one repository: finding them by name, and keeping each run to its own.

Each model is an :class:`~deepclean_exporter.exporter.Exporter` of its own (its versions, pins, locks,
retention and config.pbtxt live in its own directory of the repository): nothing is shared between
them but the repository's root. What this module adds is what only the whole set knows: which model
a name means (the first is the default, served on the API's un-prefixed routes too; with several
models only reads go through those, a write must name its model), and that a training run trained
for one detector's witness channels is never published as another's model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence

from deepclean.model_repository import MetadataError, read_training_metadata

from .errors import Conflict, NotFound
from .exporter import Export, Exporter
from .training_dir import locate, training_files

log = logging.getLogger(__name__)


def detector_of(channels: Sequence[str]) -> str | None:
    """The detector prefix (``H1`` of ``H1:ASC-...``) all ``channels`` share; None when they share none."""
    prefixes = {channel.partition(":")[0] for channel in channels if ":" in channel}
    if len(prefixes) == 1 and all(":" in channel for channel in channels):
        return prefixes.pop()
    return None


class ServedModels(Mapping[str, Exporter]):
    """The exporters of the served models by name, in the configured order (the first is the default).

    Parameters
    ----------
    exporters
        One exporter per model; their model names must be distinct.
    """

    def __init__(self, exporters: Iterable[Exporter]) -> None:
        self._exporters: dict[str, Exporter] = {}
        for exporter in exporters:
            name = exporter.model.name
            if name in self._exporters:
                raise ValueError(f"model {name!r} is served twice")
            self._exporters[name] = exporter
        if not self._exporters:
            raise ValueError("an exporter serves at least one model")

    def __getitem__(self, name: str) -> Exporter:
        return self._exporters[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._exporters)

    def __len__(self) -> int:
        return len(self._exporters)

    @property
    def default(self) -> str:
        """The model of the un-prefixed routes: the first configured."""
        return next(iter(self._exporters))

    def named(self, name: str | None) -> Exporter:
        """The exporter of model ``name`` (None: the default); :class:`NotFound` naming the served models."""
        if name is None:
            return self._exporters[self.default]
        if name not in self._exporters:
            shown = repr(name if len(name) <= 80 else name[:80] + "…")
            raise NotFound(f"unknown model {shown}; this exporter serves {list(self._exporters)}")
        return self._exporters[name]

    def writable(self, name: str | None, call: str) -> Exporter:
        """The exporter a write to model ``name`` changes (None: an un-prefixed route, ``call``).

        With one model served, None is that model. With several, a write that names no model is
        refused: it would change the default (first) model whichever detector the client serves.

        Parameters
        ----------
        name
            The model the route names; None for an un-prefixed route.
        call
            The method and un-prefixed route asked for (``PUT /production``), for the message.

        Raises
        ------
        Conflict
            ``name`` is None while several models are served; the message names
            ``/models/<name>/...`` and the served models.
        NotFound
            ``name`` is not a served model.
        """
        if name is None and len(self._exporters) > 1:
            method, _, route = call.partition(" ")
            raise Conflict(
                f"{call} names no model, and this exporter serves {list(self._exporters)}: "
                f"{method} /models/<name>{route} instead (e.g. /models/{self.default}{route})"
            )
        return self.named(name)

    def start(self) -> None:
        """Prepare every model's directory (:meth:`Exporter.start`)."""
        for exporter in self._exporters.values():
            exporter.start()

    def problems(self) -> list[str]:
        """What is wrong with any model, each problem prefixed with its model's name (empty: healthy)."""
        return [f"model {name!r}: {problem}" for name, exporter in self.items() for problem in exporter.problems()]

    def export(self, name: str | None, training_dir: str) -> Export:
        """Export ``training_dir`` as a new version of model ``name`` (None: the only model served).

        Raises
        ------
        Conflict
            ``name`` is None while several models are served (:meth:`writable`), the run was
            trained for another served model's witness channels, or its metadata names another
            detector than the model's channels do.
        """
        exporter = self.writable(name, "POST /export")
        self.check_trained_for(exporter, training_dir)
        return exporter.export(training_dir)

    def check_trained_for(self, exporter: Exporter, training_dir: str) -> None:
        """Raise :class:`Conflict` when ``training_dir`` belongs to another detector than ``exporter``'s model.

        A run whose metadata cannot be read passes here: the export itself rejects
        it (422) with the reason, as it rejects channels that match no model.
        """
        directory = locate(exporter.settings.training_root, training_dir)
        metadata_path = training_files(directory)[0]
        try:
            metadata = read_training_metadata(metadata_path)
        except MetadataError:
            return
        model = exporter.model.name
        channels = tuple(metadata.witness_channels)
        ours = detector_of(exporter.settings.witness_channels)
        theirs = metadata.ifo or detector_of(channels)
        owners = [name for name, other in self.items() if other.settings.witness_channels == channels]
        if model in owners:
            if metadata.ifo is None or ours is None or metadata.ifo == ours:
                return
            owners = []
        elif not owners and (ours is None or theirs is None or theirs == ours):
            return  # no other model's run either: the export's channel check names the mismatch (422)
        where = f"; post it to /models/{owners[0]}/export" if owners else ""
        trained = f"detector {theirs}" if theirs else "other witness channels"
        served = f"detector {ours}" if ours else "its own witness channels"
        log.warning("refused %s for model %r: trained for %s", directory.name, model, trained)
        raise Conflict(
            f"training_dir {directory.name!r} was trained for {trained}"
            + (f" (the witness channels of model {owners[0]!r})" if owners else "")
            + f", but model {model!r} cleans {served}{where}"
        )
