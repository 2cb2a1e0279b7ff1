"""The synthetic detector service: ``deepclean-detector`` (table ``[tool.typeo.scripts.detector]``).

It writes the live frames of the synthetic detector of :mod:`deepclean.synthetic` into the data
directories: ``cli`` (the command line), ``main`` (the typed entry point: settings, resuming after
the frames on disk, the paced stream), ``__main__`` (``python -m deepclean_tools.detector``).
"""
