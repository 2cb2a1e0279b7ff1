"""The Grafana dashboard, the alert rules and the scrape config in deploy/, against what the services export.

The metrics each service exports are read from its registry: each service's
``deepclean_<service>.metrics`` module is imported in the service's own
environment and every ``*Metrics`` class it defines is built (its ``create``
when it has one; None for every argument), recording each metric registered
(name, type, labels). Every selector of a dashboard panel or an
alert must name one of those metrics (or Prometheus' ``up``) with labels it
has. With ``promtool`` on the PATH (Debian: ``apt-get install -y prometheus``)
the rules and the dashboard's queries also go through Prometheus' own parser,
and the alerts through ``promtool test rules`` on made-up series.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from deepclean.config import detectors_of, load_table

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "deepclean-online.json"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
SERVICES = ("cleaner", "monitor", "exporter", "trainer")
SCRIPTS = {"cleaner": "clean", "monitor": "monitor", "trainer": "train"}
"""The configuration table of each service that runs once per detector."""


def _target_labels() -> set[str]:
    """Labels Prometheus adds to every scraped series: job and instance, and those the scrape config gives
    its targets (``detector``)."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    given = {name for job in config["scrape_configs"] for c in job["static_configs"] for name in c.get("labels", {})}
    return {"job", "instance"} | given


TARGET_LABELS = _target_labels()
PROMETHEUS_METRICS = {"up": set()}
GRAFANA_VARIABLES = re.compile(r"\$__(rate_interval|range|interval)")

LIST_METRICS = r"""
import importlib, inspect, json, sys
from prometheus_client.registry import CollectorRegistry

collectors = []
register = CollectorRegistry.register

def recording(self, collector):
    collectors.append(collector)
    return register(self, collector)

CollectorRegistry.register = recording
module = importlib.import_module(sys.argv[1])
for name, cls in inspect.getmembers(module, inspect.isclass):
    if cls.__module__ != module.__name__ or not name.endswith("Metrics"):
        continue
    factory = getattr(cls, "create", cls)
    required = [
        p for p in inspect.signature(factory).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    try:
        factory(*[None] * len(required))
    except Exception as exc:
        sys.exit(f"{name} cannot be built with None for its arguments: {exc!r}")
print(json.dumps([
    {"name": family.name, "type": family.type, "labels": list(getattr(collector, "_labelnames", ()))}
    for collector in collectors for family in collector.describe()
]))
"""
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exported_metrics(service: str) -> dict[str, set[str]] | str:
    """Sample names of ``service``'s metrics with their label names, from its registry in its environment;
    or why they cannot be listed."""
    python = ROOT / ".venvs" / service / "bin" / "python"
    if not python.exists():
        return f"no environment for the {service}: ./build.sh {service}"
    module = f"deepclean_{service}.metrics"
    listed = subprocess.run(
        [str(python), "-c", LIST_METRICS, module], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    if listed.returncode != 0:
        last = listed.stderr.strip().splitlines()[-1:] or ["?"]
        return f"cannot list the {service}'s metrics: importing {module} in .venvs/{service} failed: {last[0]}"
    samples = {}
    for family in json.loads(listed.stdout):
        for suffix in SUFFIXES.get(family["type"], ("",)):
            labels = set(family["labels"]) | ({"le"} if suffix == "_bucket" else set())
            samples[family["name"] + suffix] = labels
    return samples


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict[str, set[str]] | str]:
    """Every service's exported samples and their labels (or why they cannot be listed), by service."""
    return {service: exported_metrics(service) for service in SERVICES}


def selectors(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """The metric selectors of a PromQL expression (name, label names matched) and its grouping labels.

    A small tokenizer, enough for the expressions in deploy/: identifiers followed
    by ``(`` are functions, ``by``/``without``/``on``/``ignoring``/``group_*`` take a
    label list, ``{...}`` holds matchers, ``[...]`` a range, strings and numbers are skipped.
    """
    tokens = [
        t
        for t in re.findall(
            r'\s+|"(?:[^"\\]|\\.)*"|\{[^}]*\}|\[[^\]]*\]|[A-Za-z_:][A-Za-z0-9_:]*'
            r"|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\S",
            GRAFANA_VARIABLES.sub("5m", expr),
        )
        if not t.isspace()
    ]
    found, grouping = [], set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in ("by", "without", "on", "ignoring", "group_left", "group_right"):
            if following == "(":
                end = tokens.index(")", i + 2)
                grouping |= {t for t in tokens[i + 2 : end] if t != ","}
                i = end
        elif token in ("and", "or", "unless", "bool", "offset") or not re.fullmatch(r"[A-Za-z_:][\w:]*", token):
            pass
        elif following == "(" or following in ("by", "without"):
            pass  # a function or an aggregation
        else:
            matchers = following if following.startswith("{") else "{}"
            found.append((token, set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))))
        i += 1
    return found, grouping


def problems(where: str, expr: str, catalogue: dict[str, dict[str, set[str]] | str], service: str | None) -> list[str]:
    """What is wrong with the selectors of ``expr``: all of them, or only those of ``service``'s metrics.

    Metrics of a service whose metrics cannot be listed are left to that service's own check.
    """
    known = dict(PROMETHEUS_METRICS)
    unlisted = [name for name, samples in catalogue.items() if isinstance(samples, str)]
    for samples in catalogue.values():
        if not isinstance(samples, str):
            known.update(samples)
    found, grouping = selectors(expr)
    wrong = []
    labels_here = set(TARGET_LABELS)
    for name, matched in found:
        if service is not None and not name.startswith(f"deepclean_{service}_"):
            continue
        if name not in known:
            if service is None and any(name.startswith(f"deepclean_{s}_") for s in unlisted):
                return []
            wrong.append(f"{where}: {name} is not exported (by the {service or 'services'})")
            continue
        labels_here |= known[name]
        if matched - known[name] - TARGET_LABELS:
            wrong.append(f"{where}: {name} has no label {sorted(matched - known[name] - TARGET_LABELS)}")
    if service is None and grouping - labels_here - {"le"}:
        wrong.append(f"{where}: grouped by {sorted(grouping - labels_here)}, which no metric of it has")
    return wrong


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panel_queries() -> list[tuple[str, str]]:
    """(panel title / refId, expression) of every query of the dashboard."""
    return [
        (f"panel {p['title']!r} {t['refId']}", t["expr"])
        for p in dashboard()["panels"]
        if p["type"] != "row"
        for t in p["targets"]
    ]


def rules() -> dict:
    return yaml.safe_load(RULES.read_text())


def alert_rules() -> list[dict]:
    return [rule for group in rules()["groups"] for rule in group["rules"]]


def test_selector_parser_finds_names_labels_and_grouping():
    """The checker sees the metric, its matchers and the grouping labels in a nested expression."""
    found, grouping = selectors(
        'histogram_quantile(0.99, sum by (le) (rate(deepclean_cleaner_latency_seconds_bucket{stream="a"}[5m])))'
        " / on() group_left() sum without (instance) (up) > 2e-3"
    )
    assert found == [("deepclean_cleaner_latency_seconds_bucket", {"stream"}), ("up", set())]
    assert grouping == {"le", "instance"}


def test_checker_reports_a_wrong_name_or_label(catalogue):
    """A misspelt metric, a label it does not have and a grouping label of no metric are each reported."""
    assert problems("x", "rate(deepclean_cleaner_frames_writen_total[5m])", catalogue, None)
    assert problems("x", 'deepclean_exporter_exports_total{outcome="ok"}', catalogue, None)
    assert problems("x", "sum by (stream) (deepclean_monitor_pending_decisions)", catalogue, None)
    assert not problems("x", 'sum by (result) (deepclean_exporter_exports_total{result="ok"})', catalogue, None)


@pytest.mark.parametrize("service", SERVICES)
def test_every_metric_named_is_exported(service, catalogue):
    """Every panel and alert naming one of ``service``'s metrics names one it exports, with its labels."""
    named = [(where, expr) for where, expr in panel_queries()]
    named += [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()]
    ours = [(w, e) for w, e in named if any(n.startswith(f"deepclean_{service}_") for n, _ in selectors(e)[0])]
    assert ours, f"the dashboard and the alerts watch nothing of the {service}"
    if isinstance(catalogue[service], str):
        used = sorted({n for _, e in ours for n, _ in selectors(e)[0] if n.startswith(f"deepclean_{service}_")})
        pytest.fail(f"{catalogue[service]}; the dashboard and the alerts use {', '.join(used)}")
    wrong = [p for where, expr in ours for p in problems(where, expr, catalogue, service)]
    assert not wrong, "\n".join(wrong)


def test_grouping_labels_exist(catalogue):
    """Every ``by``/``on`` label of a panel or an alert is a label of a metric it reads."""
    named = panel_queries() + [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()]
    wrong = [p for where, expr in named for p in problems(where, expr, catalogue, None) if "grouped by" in p]
    assert not wrong, "\n".join(wrong)


def test_dashboard_structure():
    """Unique panel ids, a Prometheus datasource variable used by every query, a grid of 24 columns without overlaps."""
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])}
        assert not cells & area, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["expr"].strip() and t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for topic in ("latency", "real-time factor", "outcome", "versions", "band asd ratio", "decisions", "requests"):
        assert topic in titles, topic


def test_rules_structure():
    """Every rule is an alert with an expression, a severity, a summary and a description; names are unique."""
    names = []
    for rule in alert_rules():
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert "for" not in rule or re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        names.append(rule["alert"])
    assert len(names) == len(set(names))
    for needed in (
        "DeepCleanStreamStalled",
        "DeepCleanLatencyHigh",
        "DeepCleanFallbackHigh",
        "DeepCleanNoProductionModel",
        "DeepCleanTrainerNoSuccess",
        "DeepCleanTrainerFailing",
        "DeepCleanExporterDown",
    ):
        assert needed in names


def configured_targets(service: str) -> dict[str | None, str]:
    """Where ``service``'s metrics are in the repository's configuration: ``127.0.0.1:<port>`` per detector
    (the port of its table with the detector's sub-table laid over it), or for the exporter its URL's under None."""
    config = ROOT / "pyproject.toml"
    if service == "exporter":
        typeo = tomllib.loads(config.read_text())["tool"]["typeo"]
        return {None: f"127.0.0.1:{urlsplit(typeo['base']['exporter_url']).port}"}
    ports = {d: load_table(SCRIPTS[service], config, detector=d).get("metrics_port") for d in detectors_of(config)}
    assert ports, "pyproject.toml lists no detectors"
    assert all(ports.values()), f"pyproject.toml sets no metrics port for the {service} of {ports}"
    assert len(set(ports.values())) == len(ports), f"detectors share a metrics port of the {service}: {ports}"
    return {d: f"127.0.0.1:{port}" for d, port in ports.items()}


@pytest.mark.parametrize("service", SERVICES)
def test_scrape_config_has_the_configured_port(service):
    """The example scrape config scrapes ``service`` on 127.0.0.1 at the port of its configuration table, each
    detector's at its own port with the label ``detector``; the exporter, which serves every detector, once."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    assert config["rule_files"] == ["rules.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    scraped = {
        c.get("labels", {}).get("detector"): c["targets"] for c in jobs[f"deepclean-{service}"]["static_configs"]
    }
    assert scraped == {d: [target] for d, target in configured_targets(service).items()}


def test_alert_jobs_are_scraped():
    """Every job an alert or a panel names is a job of the scrape config."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    texts = [r["expr"] for r in alert_rules()] + [expr for _, expr in panel_queries()]
    for text in texts:
        for pattern in re.findall(r'job=~?"([^"]+)"', text):
            assert any(re.fullmatch(pattern, job) for job in jobs), pattern


# With promtool: Prometheus' own parser and rule evaluation.


@pytest.fixture
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install -y prometheus)")
    return path


def run_promtool(promtool: str, *args: str, cwd: Path) -> None:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_rules_and_scrape_config(promtool):
    """promtool accepts the rules (expressions and annotation templates) and the scrape config."""
    run_promtool(promtool, "check", "rules", str(RULES), cwd=ROOT)
    run_promtool(promtool, "check", "config", str(SCRAPE_CONFIG), cwd=ROOT)


def test_promtool_parses_every_dashboard_query(promtool, tmp_path):
    """Each panel query, its Grafana variables replaced, parses as PromQL (checked as a recording rule)."""
    recorded = [
        {"record": f"dashboard:query_{i}", "expr": GRAFANA_VARIABLES.sub("5m", expr)}
        for i, (_, expr) in enumerate(panel_queries())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    run_promtool(promtool, "check", "rules", str(path), cwd=tmp_path)


CLEANER = {"job": "deepclean-cleaner", "instance": "127.0.0.1:9106"}
PRODUCTION_FALLBACK = {**CLEANER, "stream": "production", "outcome": "fallback"}
CANARY_FALLBACK = {**CLEANER, "stream": "canary", "outcome": "fallback"}
MONITOR = {"job": "deepclean-monitor", "instance": "127.0.0.1:9105"}
EXPORTER = {"job": "deepclean-exporter", "instance": "127.0.0.1:5005"}
TRAINER = {"job": "deepclean-trainer", "instance": "127.0.0.1:9107"}
CLEANER_H1 = {**CLEANER, "detector": "H1"}
CLEANER_L1 = {"job": "deepclean-cleaner", "instance": "127.0.0.1:9116", "detector": "L1"}
MONITOR_H1 = {**MONITOR, "detector": "H1"}
MONITOR_L1 = {"job": "deepclean-monitor", "instance": "127.0.0.1:9115", "detector": "L1"}
FALLBACK = {"stream": "production", "outcome": "fallback"}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inside = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inside}}}", "values": values}


def latency_buckets(slowest_bucket: str, cleaner: dict[str, str] = CLEANER) -> list[dict[str, str]]:
    """60 cleaned seconds a minute of ``cleaner``, every one in the bucket ``slowest_bucket`` (and those above it)."""
    edges = ["1.0", "2.0", "3.0", "5.0", "10.0", "+Inf"]
    return [
        series(
            "deepclean_cleaner_latency_seconds_bucket",
            {**cleaner, "le": le},
            "0+60x40" if edges.index(le) >= edges.index(slowest_bucket) else "0x40",
        )
        for le in edges
    ]


def alert(name: str, at: str, labels: dict[str, str] | None) -> dict:
    """``name`` is firing at ``at`` with ``labels`` (None: not firing)."""
    expected = [] if labels is None else [{"exp_labels": labels}]
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


ALERT_CASES = {
    "stream stalls after 5 min": (
        [series("deepclean_cleaner_frames_written_total", CLEANER, "0+60x5 300x20")],
        [
            alert("DeepCleanStreamStalled", "5m", None),
            alert("DeepCleanStreamStalled", "10m", {**CLEANER, "severity": "critical"}),
        ],
    ),
    "monitor stalls while the cleaner writes": (
        [
            series("deepclean_monitor_frames_read_total", MONITOR, "0+60x5 300x25"),
            series("deepclean_cleaner_frames_written_total", CLEANER, "0+60x30"),
        ],
        [
            alert("DeepCleanMonitorStalled", "6m", None),
            alert("DeepCleanMonitorStalled", "20m", {**MONITOR, "severity": "warning"}),
        ],
    ),
    "latency about 2 s": (latency_buckets("2.0"), [alert("DeepCleanLatencyHigh", "30m", None)]),
    "latency about 8 s": (
        latency_buckets("10.0"),
        [alert("DeepCleanLatencyHigh", "5m", None), alert("DeepCleanLatencyHigh", "30m", {"severity": "warning"})],
    ),
    "half the production seconds fall back": (
        [
            series("deepclean_cleaner_frames_written_total", CLEANER, "0+60x40"),
            series("deepclean_cleaner_seconds_total", PRODUCTION_FALLBACK, "0+30x40"),
            series("deepclean_cleaner_seconds_total", CANARY_FALLBACK, "0+60x40"),
        ],
        [alert("DeepCleanFallbackHigh", "30m", {"stream": "production", "severity": "warning"})],
    ),
    "a tenth of the production seconds fall back": (
        [
            series("deepclean_cleaner_frames_written_total", CLEANER, "0+60x40"),
            series("deepclean_cleaner_seconds_total", PRODUCTION_FALLBACK, "0+6x40"),
        ],
        [alert("DeepCleanFallbackHigh", "30m", None)],
    ),
    "no production model for 40 min": (
        [
            series("deepclean_cleaner_version", {**CLEANER, "stream": "production"}, "0x40"),
            series("deepclean_cleaner_version", {**CLEANER, "stream": "canary"}, "0x40"),
        ],
        [
            alert("DeepCleanNoProductionModel", "20m", None),
            alert("DeepCleanNoProductionModel", "35m", {**CLEANER, "stream": "production", "severity": "warning"}),
        ],
    ),
    "trainer last succeeded at 1000 s": (
        [series("deepclean_trainer_last_success_timestamp_seconds", TRAINER, "1000x200")],
        [
            alert("DeepCleanTrainerNoSuccess", "115m", None),
            alert("DeepCleanTrainerNoSuccess", "130m", {**TRAINER, "severity": "warning"}),
        ],
    ),
    "trainer succeeding every minute": (
        [series("deepclean_trainer_last_success_timestamp_seconds", TRAINER, "0+60x200")],
        [alert("DeepCleanTrainerNoSuccess", "190m", None)],
    ),
    "a training cycle fails": (
        [
            series("deepclean_trainer_cycles_failed_total", {**TRAINER, "reason": "error"}, "0 0 0 1 1 1"),
            series("deepclean_trainer_cycles_completed_total", TRAINER, "0 1 2 3 4 5"),
        ],
        [
            alert("DeepCleanTrainerFailing", "2m", None),
            alert("DeepCleanTrainerFailing", "4m", {**TRAINER, "reason": "error", "severity": "warning"}),
        ],
    ),
    "the trainer is stopped by a signal": (
        [series("deepclean_trainer_cycles_failed_total", {**TRAINER, "reason": "interrupted"}, "0 0 0 1 1 1")],
        [alert("DeepCleanTrainerFailing", "4m", None)],
    ),
    "production falls back on one detector of two": (
        [
            series("deepclean_cleaner_frames_written_total", CLEANER_H1, "0+60x40"),
            series("deepclean_cleaner_seconds_total", {**CLEANER_H1, **FALLBACK}, "0+30x40"),
            series("deepclean_cleaner_frames_written_total", CLEANER_L1, "0+60x40"),
            series("deepclean_cleaner_seconds_total", {**CLEANER_L1, **FALLBACK}, "0x40"),
        ],
        [
            alert(
                "DeepCleanFallbackHigh",
                "30m",
                {"detector": "H1", "stream": "production", "severity": "warning"},
            )
        ],
    ),
    "one detector's monitor and cleaner stall while the other's write": (
        [
            series("deepclean_monitor_frames_read_total", MONITOR_H1, "0+60x30"),
            series("deepclean_cleaner_frames_written_total", CLEANER_H1, "0+60x30"),
            series("deepclean_monitor_frames_read_total", MONITOR_L1, "0+60x5 300x25"),
            series("deepclean_cleaner_frames_written_total", CLEANER_L1, "0+60x5 300x25"),
        ],
        [alert("DeepCleanMonitorStalled", "20m", None)],
    ),
    "one detector's cleaner is slow": (
        [
            *latency_buckets("10.0", CLEANER_L1),
            *latency_buckets("1.0", CLEANER_H1),
        ],
        [alert("DeepCleanLatencyHigh", "30m", {"detector": "L1", "severity": "warning"})],
    ),
    "exporter down from 3 min": (
        [series("up", EXPORTER, "1 1 1 0 0 0 0 0 0"), series("up", CLEANER, "1x8")],
        [
            alert("DeepCleanExporterDown", "4m", None),
            alert("DeepCleanExporterDown", "6m", {**EXPORTER, "severity": "critical"}),
            alert("DeepCleanServiceDown", "8m", None),
        ],
    ),
}


@pytest.mark.parametrize("case", ALERT_CASES)
def test_alerts_fire_when_they_should(case, promtool, tmp_path):
    """``promtool test rules``: each alert fires on made-up series showing its fault, and not before or without it.

    Annotations are left out (their templates are checked by ``promtool check rules``).
    """
    stripped = rules()
    for group in stripped["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(stripped))
    inputs, expected = ALERT_CASES[case]
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": expected}],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    run_promtool(promtool, "test", "rules", "test.yml", cwd=tmp_path)
