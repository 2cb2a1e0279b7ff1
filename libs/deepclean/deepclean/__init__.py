"""DeepClean online: the library shared by the trainer, exporter, cleaner and monitor."""

__version__ = "0.1.0"
