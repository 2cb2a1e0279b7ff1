"""Set-up shared by the test suites and the benchmarks: files, servers and processes they need.

Each service's tests run in that service's environment, where this library is
installed, so what more than one suite builds lives here, one job a module:

``training_directory``
    Training metadata per docs/interfaces.md and training directories with
    random weights (torch).
``model_versions``
    Published model versions with a random network as ONNX (torch), and pins.
``frame_sources``
    Where the synthetic detector's frames are and what their channels are
    called, as keyword arguments of a frame source.
``config_files``
    A ``pyproject.toml`` in a directory and the TOML of a detector's tables.
``synthetic_spans``
    Comparing two spans of the synthetic detector sample by sample.
``stub_server``
    A real HTTP server in a thread answering JSON (stand-ins for the exporter).
``processes``
    Free ports, service processes in their own process group, polling.
``browser``
    A real headless Chromium (the monitor's status page).

Nothing is imported here: a module that needs torch is only loaded by the
suites that have it::

    from deepclean.testing.model_versions import pin_versions, publish_version, write_random_network
    from deepclean.testing.training_directory import training_metadata, write_training_dir
"""
