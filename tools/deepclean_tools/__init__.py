"""DeepClean online tools: the applications built on the shared library :mod:`deepclean`.

Subpackages: :mod:`deepclean_tools.suite` (``./run.sh``: start, stop and supervise every
service) and :mod:`deepclean_tools.detector` (the synthetic detector service,
``deepclean-detector``, which writes the frames of :mod:`deepclean.synthetic`).
"""
