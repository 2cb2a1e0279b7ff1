"""Detectors as configuration: one detector's table laid over base, references to every detector, errors."""

import ast
import re
import tomllib
from pathlib import Path

import pytest

from deepclean.config import ConfigError, detectors_of, load_table, parse_config
from deepclean.synthetic.detector_config import default_witnesses
from deepclean.testing.config_files import detector_table, write_config

ROOT = Path(__file__).resolve().parents[3]
PROJECT = ROOT / "pyproject.toml"

CONFIG = """
[tool.typeo.base]
detectors = ["H1", "L1"]
run_dir = "run"
band = [55.0, 65.0]
strain_dir = "${base.run_dir}/${base.ifo}/llhoft"

[tool.typeo.detectors.H1]
ifo = "H1"
model_name = "deepclean-h1"
channels = ["H1:A", "H1:B"]

[tool.typeo.detectors.H1.train]
port = 9107

[tool.typeo.detectors.L1]
ifo = "L1"
model_name = "deepclean-l1"
strain_dir = "/dev/shm/kafka/L1"
channels = ["L1:A", "L1:B"]
band = [50.0, 70.0]

[tool.typeo.detectors.L1.train]
port = 9117

[tool.typeo.detectors.V1]
ifo = "V1"

[tool.typeo.scripts.train]
strain_dir = "${base.strain_dir}"
channels = "${base.channels}"
band = "${base.band}"
port = 0
name = "${base.ifo}-train"

[tool.typeo.scripts.export]
model_names = "${detectors.model_name}"
model_channels = "${detectors.model_name:channels}"

[tool.typeo.profiles.cpu.train]
port = 1
"""


def train(strain_dir: Path, channels: list[str], band: list[float], port: int = 0, name: str = ""):
    """Train."""


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, CONFIG)


def test_each_detector_gets_its_own_values(config):
    """The detector's table is laid over base before ${base.x} is resolved (base values referring to ${base.ifo} are
    the detector's; a value the detector sets itself wins); its script sub-table is laid over the script's."""
    h1, l1 = load_table("train", config, detector="H1"), load_table("train", config, detector="L1")
    assert (h1["strain_dir"], h1["channels"], h1["band"]) == ("run/H1/llhoft", ["H1:A", "H1:B"], [55, 65])
    assert (l1["strain_dir"], l1["channels"], l1["band"]) == ("/dev/shm/kafka/L1", ["L1:A", "L1:B"], [50, 70])
    assert (h1["port"], l1["port"]) == (9107, 9117)
    assert l1["name"] == "L1-train"


def test_no_detector_is_the_first_and_the_profile_comes_last(config):
    """Without --detector a service runs for the first listed detector; a profile overlays the detector's values."""
    assert load_table("train", config) == load_table("train", config, detector="H1")
    assert load_table("train", config, "cpu", "L1")["port"] == 1


def test_references_to_every_detector(config):
    """${detectors.x} lists x of every configured detector (not of tables left out); ${detectors.x:y} maps x to y."""
    table = load_table("export", config, detector="L1")
    assert table["model_names"] == ["deepclean-h1", "deepclean-l1"]
    assert table["model_channels"] == {"deepclean-h1": ["H1:A", "H1:B"], "deepclean-l1": ["L1:A", "L1:B"]}
    assert detectors_of(config) == ["H1", "L1"]


def test_command_line_detector(config):
    """--detector selects the table; relative paths still anchor at the file."""
    values = parse_config(train, "train", ["--config", str(config), "--detector", "L1"])
    assert values["strain_dir"] == Path("/dev/shm/kafka/L1")
    assert parse_config(train, "train", ["--config", str(config)])["strain_dir"] == config.parent / "run/H1/llhoft"
    assert values["port"] == 9117


@pytest.mark.parametrize("detector", ["V1", "X9"])
def test_an_unconfigured_detector_is_an_error_naming_the_configured_ones(config, detector):
    """A detector not in base.detectors (even one with a table) is refused, naming H1 and L1."""
    with pytest.raises(ConfigError, match=f"unknown detector '{detector}'; configured detectors: H1, L1"):
        load_table("train", config, detector=detector)
    with pytest.raises(ConfigError, match="configured detectors: H1, L1"):
        parse_config(train, "train", ["--config", str(config), "--detector", detector])


def test_a_single_detector_configuration_is_unchanged(tmp_path):
    """Without a detectors list base is used as it is; ${detectors.x} is a one-element list; --detector is refused."""
    path = write_config(
        tmp_path,
        '[tool.typeo.base]\nifo = "H1"\nstrain_dir = "run/llhoft"\nchannels = ["H1:A"]\nband = [1.0, 2.0]\n'
        "model_name = 'deepclean'\n"
        '[tool.typeo.scripts.train]\nstrain_dir = "${base.strain_dir}"\nchannels = "${base.channels}"\n'
        'band = "${base.band}"\n[tool.typeo.scripts.export]\nmodel_names = "${detectors.model_name}"\n',
    )
    assert load_table("train", path) == {"strain_dir": "run/llhoft", "channels": ["H1:A"], "band": [1.0, 2.0]}
    assert load_table("export", path) == {"model_names": ["deepclean"]}
    assert detectors_of(path) == []
    with pytest.raises(ConfigError, match="lists no detectors"):
        load_table("train", path, detector="H1")


@pytest.mark.parametrize(
    "text, message",
    [
        ('detectors = ["H1", "K1"]\n[tool.typeo.detectors.H1]\n', r"\['K1'\] are listed .* but have no table"),
        ('detectors = "H1"\n', "must be a non-empty list"),
        ('detectors = ["H1", "H1"]\n[tool.typeo.detectors.H1]\n', "names a detector twice"),
        ('a = "${base.b}"\nb = "${base.a}"\n', "circle: a -> b -> a"),
        ('a = "${detectors.b}"\nb = 1\n', "only script tables may refer to every detector"),
        ('a = "${base.nothing}/x"\n', r"'a' refers to \$\{base.nothing\}"),
    ],
)
def test_bad_detector_configuration(tmp_path, text, message):
    """Each mistake in the detectors or base references stops with a message naming it."""
    path = write_config(tmp_path, f"[tool.typeo.base]\n{text}\n[tool.typeo.scripts.train]\nport = 1\n")
    with pytest.raises(ConfigError, match=message):
        load_table("train", path)


def test_the_project_configures_h1_and_l1_apart():
    """Every per-detector service table of the project resolves for H1 and L1 to different data, models and ports."""
    assert detectors_of(PROJECT) == ["H1", "L1"]
    for script in ("detector", "train", "clean", "monitor"):
        h1, l1 = (load_table(script, PROJECT, "cpu", d) for d in ("H1", "L1"))
        assert all("${" not in str(value) for value in (*h1.values(), *l1.values()))
        assert h1["ifo"] == "H1" and l1["ifo"] == "L1"
        differing = {key for key in h1 if h1[key] != l1[key]}
        assert {"strain_dir", "strain_channel", "site"} <= differing
        assert not any("H1" in str(l1[key]) for key in l1), f"[{script}] for L1 still names H1"
        if script in ("train", "clean", "monitor"):
            assert {"model_name", "metrics_port"} <= differing
    seeds = [load_table("detector", PROJECT, detector=name)["seed"] for name in ("H1", "L1")]
    assert seeds[0] != seeds[1], "H1 and L1 would have the same couplings"
    export = load_table("export", PROJECT)
    assert export["model_names"] == ["deepclean-h1", "deepclean-l1"]
    assert set(export["model_witness_channels"]) == {"deepclean-h1", "deepclean-l1"}
    status = load_table("status", PROJECT)
    assert status["detectors"] == ["H1", "L1"] and status["reports_dirs"] == ["run/reports/H1", "run/reports/L1"]


IFO_LITERAL = re.compile(r"\b[A-Z]1(:|\b)")


def test_no_detector_literal_outside_the_detector_tables():
    """Base, the script tables and the profiles of the project name no detector: only [tool.typeo.detectors.*] do."""
    typeo = tomllib.loads(PROJECT.read_text())["tool"]["typeo"]
    tables = {"base": {k: v for k, v in typeo["base"].items() if k != "detectors"}}
    tables |= {f"scripts.{name}": table for name, table in typeo["scripts"].items()}
    tables |= {f"profiles.{p}.{s}": table for p, scripts in typeo["profiles"].items() for s, table in scripts.items()}
    found = [
        f"[tool.typeo.{name}] {key} = {value!r}"
        for name, table in tables.items()
        for key, value in table.items()
        if IFO_LITERAL.search(str(value)) or (key == "site" and value != "${base.site}")
    ]
    assert not found, found


# A function's ``site`` and ``ifo`` defaults serve a bare call (tests, benchmarks): a deployment sets both from its
# detector's table, and every channel name the configuration does not set is derived from ``ifo``.
BARE_CALL_PARAMETERS = {"site", "ifo"}
SERVICE_CODE = [
    "libs/deepclean/deepclean/config.py",
    "libs/deepclean/deepclean/detectors.py",
    "tools/deepclean_tools/suite",
    "tools/deepclean_tools/detector",
    "projects/exporter/deepclean_exporter",
    "projects/trainer/deepclean_trainer",
    "projects/cleaner/deepclean_cleaner",
    "projects/monitor/deepclean_monitor",
]


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of ``path`` that are neither docstrings nor defaults of ``BARE_CALL_PARAMETERS``."""
    tree = ast.parse(path.read_text())
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = [*node.args.posonlyargs, *node.args.args]
            defaults = zip(arguments[len(arguments) - len(node.args.defaults) :], node.args.defaults, strict=True)
            pairs = [*defaults, *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)]
            skipped |= {id(default) for argument, default in pairs if argument.arg in BARE_CALL_PARAMETERS}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    ]


def test_no_detector_literal_in_service_code():
    """The services take site, ifo and channels from the configuration: no string in their code names a detector
    (a channel ``H1:...``, an ifo ``"H1"`` or a site ``"H"``) but the bare-call defaults of ``site`` and ``ifo``."""
    found = []
    for entry in SERVICE_CODE:
        base = ROOT / entry
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            for line, text in _code_strings(path):
                if IFO_LITERAL.match(text) or text in {"H", "L", "V", "K"}:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert not found, found


def test_adding_a_detector_is_configuration_only(tmp_path):
    """A V1 table and its name in the list give V1 every service table, the exporter's model and a status row."""
    text = PROJECT.read_text().replace('detectors = ["H1", "L1"]', 'detectors = ["H1", "L1", "V1"]')
    text += "\n" + detector_table(
        "V1",
        site="V",
        model_name="deepclean-v1",
        strain_channel="V1:GDS-CALIB_STRAIN",
        state_channel="V1:GDS-CALIB_STATE_VECTOR",
        mains_channel="V1:PEM-CS_MAINSMON_EBAY_1_DQ",
        witness_channels=default_witnesses("V1"),
        seed=3,
        train={"metrics_port": 9127},
        clean={"metrics_port": 9126},
        monitor={"metrics_port": 9125, "status_port": 9113},
    )
    config = write_config(tmp_path, text)
    for script in ("detector", "train", "clean", "monitor"):
        table = load_table(script, config, "cpu", "V1")
        assert table["ifo"] == "V1" and table["strain_dir"] == "run/data/V1/llhoft"
    assert load_table("export", config)["model_names"] == ["deepclean-h1", "deepclean-l1", "deepclean-v1"]
    assert load_table("status", config)["detectors"] == ["H1", "L1", "V1"]


PORTS = (
    '[tool.typeo.base]\ndetectors = ["H1", "L1"]\nmetrics_port = 9000\n'
    + detector_table("H1", train={"metrics_port": 9107}, monitor={"status_port": 9111})
    + detector_table("L1", train={"metrics_port": 9117}, monitor={"status_port": 9112})
    + """
[tool.typeo.scripts.train]
metrics_port = 9107
[tool.typeo.scripts.monitor]
metrics_port = 0
status_port = 9110
[tool.typeo.scripts.status]
status_port = 9110
[tool.typeo.scripts.export]
exporter_port = 5005
"""
)


def test_distinct_ports_load(tmp_path):
    """Each detector its own ports, 0 (not served) shared, the shared services' ports once: every table loads."""
    path = write_config(tmp_path, PORTS)
    assert load_table("train", path, detector="L1")["metrics_port"] == 9117
    assert load_table("status", path) == {"status_port": 9110}


def test_a_sub_table_that_names_no_script_is_an_error(tmp_path):
    """[tool.typeo.detectors.L1.cleaner] (for .clean) is refused naming it and the scripts, not taken as base."""
    path = write_config(tmp_path, PORTS + "[tool.typeo.detectors.L1.cleaner]\nmetrics_port = 9116\n")
    message = r"\[tool.typeo.detectors.L1.cleaner\] names no script table; the known script names are export, monitor"
    for detector in ("H1", "L1"):  # loading any detector's table checks every detector's ports
        with pytest.raises(ConfigError, match=message if detector == "L1" else "L1.cleaner"):
            load_table("train", path, detector=detector)
    with pytest.raises(ConfigError, match=r"known script names are export, monitor, status, train"):
        parse_config(train, "train", ["--config", str(path), "--detector", "L1"])


def test_a_base_value_that_is_a_table_may_still_be_set_by_a_detector(tmp_path):
    """A detector table's mapping whose key is a base key (not a script) overrides that base value, as before."""
    text = PORTS.replace("metrics_port = 9000\n", "metrics_port = 9000\ngains = {a = 1}\n", 1)
    text = (
        text.replace('ifo = "L1"\n', 'ifo = "L1"\ngains = {a = 2}\n', 1)
        + '[tool.typeo.scripts.x]\ng = "${base.gains}"\n'
    )
    assert load_table("x", write_config(tmp_path, text), detector="L1") == {"g": {"a": 2}}


@pytest.mark.parametrize(
    "change, message",
    [
        # L1 without its own train port: both detectors' trainers on 9107
        (
            ("[tool.typeo.detectors.L1.train]\nmetrics_port = 9117\n", ""),
            r"detectors H1 and L1 both bind port 9107 \(H1's \[tool.typeo.scripts.train\] metrics_port, "
            r"L1's \[tool.typeo.scripts.train\] metrics_port\)",
        ),
        # across services: L1's trainer on H1's monitor page
        (
            ("metrics_port = 9117", "metrics_port = 9111"),
            r"detectors H1 and L1 both bind port 9111 \(H1's \[tool.typeo.scripts.monitor\] status_port, "
            r"L1's \[tool.typeo.scripts.train\] metrics_port\)",
        ),
        # L1's monitor page on the status page of every detector
        (
            ("status_port = 9112", "status_port = 9110"),
            r"detector L1's \[tool.typeo.scripts.monitor\] status_port = 9110 is the port of the status page",
        ),
        # a port kept in base, referred to by the script table
        (
            (
                "[tool.typeo.scripts.monitor]\nmetrics_port = 0",
                '[tool.typeo.scripts.monitor]\nmetrics_port = "${base.metrics_port}"',
            ),
            r"detectors H1 and L1 both bind port 9000 .*monitor\] metrics_port",
        ),
    ],
)
def test_ports_shared_by_detectors_are_refused(tmp_path, change, message):
    """A port two detectors' services would bind on the host (or one that is the status page's) stops loading,
    naming both detectors, the keys and the port: whichever script or detector is loaded."""
    path = write_config(tmp_path, PORTS.replace(*change, 1))
    for script, detector in (("train", "H1"), ("monitor", "L1"), ("status", None), ("export", None)):
        with pytest.raises(ConfigError, match=message):
            load_table(script, path, detector=detector)


def test_a_profile_port_is_not_checked(tmp_path):
    """A profile's port is every detector's on purpose (a test running one detector and scraping it): it loads."""
    path = write_config(tmp_path, PORTS + "[tool.typeo.profiles.lab.train]\nmetrics_port = 9200\n")
    assert load_table("train", path, "lab", "L1")["metrics_port"] == 9200


def test_a_single_detector_configuration_keeps_its_ports(tmp_path):
    """Without a detectors list nothing is checked: the monitor's page may share the status table's port."""
    text = PORTS.split("[tool.typeo.detectors.H1]")[0].replace('detectors = ["H1", "L1"]\n', "")
    text += PORTS[PORTS.index("[tool.typeo.scripts.train]") :]
    path = write_config(tmp_path, text)
    assert load_table("monitor", path) == {"metrics_port": 0, "status_port": 9110}
