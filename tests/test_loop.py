"""The whole loop, headless, at a high speed-up with tiny settings, for one detector.

The suite is started the way ``./run.sh --headless --detectors H1`` starts it
(:mod:`loop_suite`): the trainer trains once and asks the exporter to export (to H1's
model), the cleaner cleans with the new model as canary, the monitor promotes it, and
production frames fill. One detector (two cores): the services of each are the same;
``test_loop_triton.py`` runs two detectors through a Triton server.
"""

from __future__ import annotations

from loop_suite import check_cleaned_stream, get_json, running_suite, wait_for_production

DETECTOR = "H1"
TIMEOUT = 600


def test_loop_trains_exports_promotes_and_cleans(tmp_path):
    """A version is exported and promoted; production frames reduce the in-band noise; no second is lost."""
    with running_suite(tmp_path, [DETECTOR]) as suite:
        production_frames = wait_for_production(suite, frames=32, timeout=TIMEOUT)[DETECTOR]
        production = suite.production_version(DETECTOR)
        versions = get_json(f"{suite.exporter_url}/models/{suite.model(DETECTOR)}/versions")
        assert any(v["version"] == production for v in versions["versions"])
        check_cleaned_stream(suite, DETECTOR, production_frames)
