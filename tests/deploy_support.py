"""What the deployment tests share: the shipped files, the PromQL they contain, the tools
that check them (promtool, hadolint, docker-compose) and a real Prometheus server.

The tools are installed by `scripts/services tools` (which `scripts/test` runs). When one is
missing the test is skipped, except under CI (CI=true) where it fails.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_DIR = DEPLOY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts.test.yml"
GRAFANA_DIR = DEPLOY / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "stream-al.json"
DATASOURCE = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER = GRAFANA_DIR / "provisioning" / "dashboards" / "stream-al.yml"
K8S_DIR = DEPLOY / "k8s"

METRIC_NAME = re.compile(r"\bstream_al_[a-z_]+")
TOOL_HINT = "run `scripts/services tools` (prometheus, promtool, docker-compose, hadolint)"


def missing(message: str) -> NoReturn:
    """Skip, or fail under CI (``CI=true``): a missing server or tool must never pass
    silently there."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def need_module(name: str) -> Any:
    """``pytest.importorskip(name)``, but under CI a module that will not import fails the
    test (confluent-kafka is a test dependency: a broken install must not pass as skips).
    Usable at a module's top level."""
    if os.environ.get("CI") != "true":
        return pytest.importorskip(name)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"{name} does not import under CI: {exc}; pip install -e '.[test]'", False)


def unavailable(reason: str) -> NoReturn:
    """A deploy tool is missing: :func:`missing`, saying how to install it."""
    missing(f"{reason}; {TOOL_HINT}")


def require_tool(name: str) -> str:
    """The path of a tool on PATH or in the project's .venv, else skip (fail under CI)."""
    venv_tool = ROOT / ".venv" / "bin" / name
    found = shutil.which(name) or (str(venv_tool) if venv_tool.is_file() else None)
    if found is None:
        unavailable(f"{name} is not installed")
    return found


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


# -- the PromQL the shipped files contain ---------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of deploy/prometheus/alerts.yml."""
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def alert_names() -> list[str]:
    return sorted({rule["alert"] for rule in alert_rules() if "alert" in rule})


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def dashboard() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return result


def dashboard_exprs() -> list[str]:
    """Every query of the dashboard: the panels' targets and the template variables."""
    board = dashboard()
    exprs = [t["expr"] for t in _walk(board["panels"]) if isinstance(t.get("expr"), str)]
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if isinstance(query, str):
            exprs.append(query)
    return exprs


def promql_for_prometheus(expr: str) -> str:
    """A dashboard query as Prometheus itself accepts it (Grafana's variables filled in)."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$instance", ".*")
    )


def metric_names_in(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics text can carry: each sample's name, and for each
    declared family the names its type exports (counter `_total`, histogram `_bucket`,
    `_sum`, `_count`), so a labeled family with no child yet still counts."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(maxsplit=3)
            if kind == "histogram":
                names.update(f"{family}{s}" for s in ("_bucket", "_sum", "_count"))
            elif kind == "counter":
                names.add(family if family.endswith("_total") else f"{family}_total")
            else:
                names.add(family)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


# -- a real Prometheus ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(targets: list[str], rule_files: list[Path] | None = None) -> str:
    """A Prometheus configuration that scrapes `targets` every second as job stream-al."""
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files or []],
        "scrape_configs": [
            {
                "job_name": "stream-al",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": targets}],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class PrometheusServer:
    """Debian's prometheus on a free loopback port, with its data in a temporary folder;
    stopped by pid."""

    binary: str
    workdir: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, config: str, timeout: float = 60.0) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(config)
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"prometheus exited ({self.popen.returncode}):\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"prometheus not ready after {timeout:.0f} s:\n{self.output()}"
                )
            time.sleep(0.2)
        return self

    def ready(self) -> bool:
        try:
            with urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200
        except (OSError, URLError):
            return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urlencode(params)}" if params else ""
        with urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as r:
            body = json.loads(r.read().decode())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [ts, "text"]}, ...]."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it has no sample (yet)."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
