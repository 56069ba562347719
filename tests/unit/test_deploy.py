"""Static checks of the deployment files: Dockerfile, docker-compose.yml, Prometheus, Grafana
and Kubernetes. promtool, hadolint and docker-compose are real tools (installed by
`scripts/services tools`); without one the test is skipped, and fails under CI.

The checks that need a running service (every metric name the alerts and the dashboard use
is exported; Prometheus scrapes serve) are in tests/integration/test_prometheus.py.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_al.cli.reference import settings_rows
from stream_al.config import SHUTDOWN_CLOSE_S, LearnerSettings, load_settings
from tests.deploy_support import (
    ALERTS,
    ALERTS_TEST,
    COMPOSE_FILE,
    DASHBOARD_PROVIDER,
    DATASOURCE,
    DOCKERFILE,
    DOCKERIGNORE,
    K8S_DIR,
    PROMETHEUS_CONFIG,
    ROOT,
    alert_names,
    alert_rules,
    dashboard,
    dashboard_exprs,
    load_yaml,
    load_yaml_all,
    metric_names_in,
    require_tool,
)

SETTINGS = {name for name, _, _ in settings_rows()}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def run(cmd: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def compose() -> dict[str, Any]:
    result: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return result


def with_defaults(value: object) -> str:
    """A compose value with ${VAR:-default} replaced by its default (what the demo uses)."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


# -- Dockerfile ---------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations
    joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        stages[-1].append((instruction, args.strip()))
    return stages


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = require_tool("hadolint")
    result = run([hadolint, "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck_and_entrypoint() -> None:
    preamble, *stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    args = dict(a.split("=", 1) for i, a in preamble if i == "ARG" and "=" in a)
    bases = [
        with_defaults(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], s[0][1])) for s in stages
    ]
    assert all(b.split()[0].startswith("python:3.11-slim") for b in bases), bases
    final = stages[-1]
    instructions = [i for i, _ in final]
    # Non-root: a numeric uid other than 0, so that Kubernetes' runAsNonRoot can verify it.
    [user] = [a for i, a in final if i == "USER"]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0, user
    [healthcheck] = [a for i, a in final if i == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib" in healthcheck and "curl" not in healthcheck
    assert ("ENTRYPOINT", '["stream-al"]') in final
    assert instructions.index("USER") < instructions.index("ENTRYPOINT")
    assert any(i == "COPY" and a.startswith("--from=") for i, a in final)
    # No compilers in the final image: nothing installed there but what the build copied.
    final_runs = " ".join(a for i, a in final if i == "RUN")
    for tool in ("gcc", "g++", "build-essential", "clang", "make", "cc ", "apt-get install"):
        assert tool not in final_runs, f"{tool!r} in the final stage"
    # The build stage installs the package itself (stream-al), not only its dependencies.
    assert any("pip install" in a for i, a in stages[0] if i == "RUN")


def test_dockerignore_keeps_what_the_dockerfile_copies_and_drops_the_rest() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:  # Docker's rule: the last matching pattern wins
        verdict = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            p = pattern.lstrip("!").rstrip("/")
            if Path(path).match(p) or path == p or path.startswith(p + "/") or p == "*":
                verdict = not negate
        return verdict

    copied = [
        src
        for stage in dockerfile_stages()
        for i, a in stage
        if i == "COPY" and not a.startswith("--from")
        for src in a.split()[:-1]
    ]
    assert copied, "the Dockerfile copies the package"
    for src in copied:
        assert not ignored(src.rstrip("/")), f"{src} is excluded by .dockerignore"
    for heavy in (".venv", ".git", ".services", "tests", "deploy"):
        assert ignored(heavy), f"{heavy} would be sent to the Docker daemon"


# -- docker-compose.yml -------------------------------------------------------------------


def test_compose_file_is_valid_for_docker_compose() -> None:
    """Debian's docker-compose (1.29, the only one installable here) validates the file
    against the Compose schema without a Docker engine. It predates the top-level `name`,
    so that one key is left out of the copy it reads."""
    docker_compose = require_tool("docker-compose")
    data = compose()
    assert data.pop("name") == "stream-al"
    copy = ROOT / ".services" / "compose-v1-check.yml"
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        base = [docker_compose, "-f", str(copy), "--project-directory", str(ROOT)]
        result = run([*base, "config", "-q"])
        assert result.returncode == 0, result.stdout + result.stderr
        result = run([*base, "--profile", "demo", "config", "-q"])
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        copy.unlink(missing_ok=True)


def test_compose_stack_has_every_service_with_health_checks_and_start_order() -> None:
    data = compose()
    services = data["services"]
    assert {"kafka", "redis", "serve", "labeler", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, one node
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka_env
    # Every long-running service has a health check (the one-shot ones need none).
    one_shot = {name for name, s in services.items() if s.get("restart") == "no"}
    for name, service in services.items():
        if name in one_shot:
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), name
    # Start order: every dependency exists and has a health check (service_healthy) or is
    # a one-shot job (service_completed_successfully).
    for name, service in services.items():
        for dep, spec in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = spec["condition"]
            assert condition in {
                "service_healthy",
                "service_completed_successfully",
                "service_started",
            }
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no health check"
            if condition == "service_completed_successfully":
                assert dep in one_shot, f"{dep} is not a one-shot job"
    serve = services["serve"]["depends_on"]
    assert serve["kafka"]["condition"] == "service_healthy"
    assert serve["redis"]["condition"] == "service_healthy"
    assert serve["kafka-init"]["condition"] == "service_completed_successfully"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert services["labeler"]["depends_on"]["serve"]["condition"] == "service_healthy"
    # serve's own check is the /healthz of its metrics port.
    assert "/healthz" in " ".join(services["serve"]["healthcheck"]["test"])


def test_compose_redis_has_a_password_append_only_persistence_and_a_volume() -> None:
    data = compose()
    redis = data["services"]["redis"]
    command = [with_defaults(c) for c in redis["command"]]
    assert command[command.index("--appendonly") + 1] == "yes"
    password = command[command.index("--requirepass") + 1]
    assert password
    volumes = [v.split(":") for v in redis["volumes"]]
    assert ["redis-data", "/data"] in volumes and "redis-data" in data["volumes"]
    # The stream-al containers use the same password, through the real setting.
    for name in ("serve", "labeler", "producer", "demo-worker"):
        env = data["services"][name]["environment"]
        assert with_defaults(env["STREAM_AL_REDIS__PASSWORD"]) == password, name
        assert env["STREAM_AL_REDIS__URL"].startswith("redis://redis:6379/")


def test_compose_serve_has_its_checkpoint_key_and_listens_beyond_loopback() -> None:
    env = compose()["services"]["serve"]["environment"]
    key = INTERPOLATION.fullmatch(env["STREAM_AL_CHECKPOINT__KEY"])
    assert key is not None and key.group(1) == "STREAM_AL_CHECKPOINT__KEY" and key.group(2)
    assert env["STREAM_AL_METRICS__HOST"] == "0.0.0.0"
    assert "STREAM_AL_CHECKPOINT__KEY" in COMPOSE_FILE.read_text().split("services:")[0]


def test_compose_serve_keeps_its_checkpoints_on_a_volume_the_replicas_share() -> None:
    data = compose()
    serve = data["services"]["serve"]
    directory = serve["environment"]["STREAM_AL_CHECKPOINT__DIR"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in serve["volumes"]}
    volume = mounts[directory]  # the setting names the mount point
    assert volume in data["volumes"]  # a named volume: shared by `--scale serve=N`
    # The image makes the mount point, owned by its user, so the volume is writable.
    run = " ".join(a for i, a in dockerfile_stages()[-1] if i == "RUN")
    assert directory in run and re.search(rf"chown 10001:10001 .*{re.escape(directory)}", run)


def test_compose_demo_profile_replays_a_stream_and_labels_it_from_the_shared_truth() -> None:
    data = compose()
    services = data["services"]
    demo = {name for name, s in services.items() if "demo" in s.get("profiles", [])}
    assert demo == {"producer", "demo-worker"}
    producer = [with_defaults(c) for c in services["producer"]["command"]]
    assert producer[:3] == ["produce", "--stream", "synth:agrawal-drift"]
    assert int(producer[producer.index("--limit") + 1]) > 0
    assert producer[producer.index("--truth") + 1] == "/shared/truth.csv"
    worker = services["demo-worker"]
    assert worker["command"] == ["worker", "--oracle", "file:/shared/truth.csv"]
    # The truth is on a shared volume; the worker reads it once at start, so it starts when
    # the producer has finished writing it.
    assert "shared:/shared" in services["producer"]["volumes"]
    assert any(v.startswith("shared:/shared") for v in worker["volumes"])
    assert "shared" in data["volumes"]
    assert worker["depends_on"]["producer"]["condition"] == "service_completed_successfully"
    assert services["producer"]["depends_on"]["serve"]["condition"] == "service_healthy"


def test_compose_mounts_prometheus_and_grafana_files_that_exist() -> None:
    data = compose()
    services = data["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in data["volumes"], f"{name}: undeclared volume {source}"
    prometheus = services["prometheus"]
    mount = next(v for v in prometheus["volumes"] if v.startswith("./deploy/prometheus:"))
    target = mount.split(":")[1]
    config = next(c for c in prometheus["command"] if c.startswith("--config.file="))
    assert config == f"--config.file={target}/prometheus.yml"
    assert any(c.startswith("--storage.tsdb.path=") for c in prometheus["command"])
    # Grafana: provisioning where Grafana reads it, dashboards where the provider looks.
    grafana = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"]}
    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    [provider] = load_yaml(DASHBOARD_PROVIDER)["providers"]
    assert grafana["./deploy/grafana/dashboards"] == provider["options"]["path"]
    # Prometheus scrapes the compose service named in its config, on serve's port.
    [job] = [
        j for j in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if j["job_name"] == "stream-al"
    ]
    [sd] = job["dns_sd_configs"]
    assert sd["names"] == ["serve"]
    assert str(sd["port"]) == services["serve"]["environment"]["STREAM_AL_METRICS__PORT"]


# -- settings: every STREAM_AL_* variable is a real one, with a valid value ------------------


def compose_environments() -> dict[str, dict[str, str]]:
    return {
        name: {k: with_defaults(v) for k, v in (s.get("environment") or {}).items()}
        for name, s in compose()["services"].items()
    }


def k8s_environment() -> dict[str, str]:
    """The ConfigMap's settings plus the env of the serve container (secrets as dummies)."""
    env: dict[str, str] = {}
    for doc in load_yaml_all(K8S_DIR / "configmap.yaml"):
        env.update(doc["data"])
    for path in K8S_DIR.glob("*.yaml"):
        for doc in load_yaml_all(path):
            for container in (
                doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            ):
                for var in container.get("env", []):
                    env[var["name"]] = var.get("value", "from-a-reference")
    return env


def dockerfile_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for i, args in dockerfile_stages()[-1]:
        if i == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def test_every_stream_al_variable_in_compose_k8s_and_the_image_is_a_real_setting() -> None:
    seen: dict[str, set[str]] = {}
    sources = {f"compose {n}": e for n, e in compose_environments().items()}
    sources["k8s"] = k8s_environment()
    sources["Dockerfile"] = dockerfile_environment()
    for where, env in sources.items():
        for name in env:
            if name.startswith("STREAM_AL_"):
                seen.setdefault(name, set()).add(where)
    unknown = {name: sorted(where) for name, where in seen.items() if name not in SETTINGS}
    assert not unknown, f"not settings of stream-al (see `stream-al settings`): {unknown}"
    assert len(seen) >= 10  # the files do set settings: this is not a vacuous pass
    # Interpolation variables of the compose file never pose as settings either.
    for var in INTERPOLATION.findall(COMPOSE_FILE.read_text()):
        assert not var[0].startswith("STREAM_AL_") or var[0] in SETTINGS, var[0]


@pytest.mark.parametrize(
    "source",
    [
        "compose serve",
        "compose labeler",
        "compose producer",
        "compose demo-worker",
        "k8s",
        "Dockerfile",
    ],
)
def test_the_settings_each_deployment_sets_are_valid(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if source == "k8s":
        env = k8s_environment()
    elif source == "Dockerfile":
        env = dockerfile_environment()
    else:
        env = compose_environments()[source.split()[1]]
    for name in list(os.environ):
        if name.startswith("STREAM_AL_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("STREAM_AL_"):
            monkeypatch.setenv(name, value)
    settings = load_settings()  # raises ValueError naming a bad value
    if "STREAM_AL_METRICS__HOST" in env:
        assert settings.metrics.host == "0.0.0.0"
    # The shipped files run the default learner, the one the benchmarks measure (the
    # ConfigMap had kept the learner of before the default changed).
    default = LearnerSettings()
    assert (settings.learner.model, settings.learner.strategy) == (
        default.model,
        default.strategy,
    ), source


# -- Prometheus: promtool --------------------------------------------------------------------


def test_promtool_check_config_and_rules_pass_on_the_shipped_files() -> None:
    promtool = require_tool("promtool")
    result = run([promtool, "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    result = run([promtool, "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout + result.stderr  # promtool's lint (exit 0) too
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout + result.stderr


def test_promtool_rule_tests_pass() -> None:
    promtool = require_tool("promtool")
    result = run([promtool, "test", "rules", str(ALERTS_TEST)], cwd=ALERTS_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_rule_tests_cover_every_alert_firing_and_quiet() -> None:
    """Each alert has a test where it fires for a sick replica while a healthy replica's
    series, evaluated at the same time, raise nothing, and a moment where it is quiet."""
    tests = load_yaml(ALERTS_TEST)["tests"]
    assert load_yaml(ALERTS_TEST)["rule_files"] == [ALERTS.name]
    required = {
        "StreamAlDown",
        "StreamAlLabelBudgetOverspent",
        "StreamAlLabelQueueBacklogGrowing",
        "StreamAlConsumerLagGrowing",
        "StreamAlDriftStorm",
        "StreamAlNoLabelsLearned",
        "StreamAlCheckpointStale",
    }
    assert required <= set(alert_names())
    for alert in alert_names():
        fires = quiet = healthy_beside = False
        for test in tests:
            instances = set(re.findall(r'instance="([^"]+)"', str(test["input_series"])))
            for case in test["alert_rule_test"]:
                if case["alertname"] != alert:
                    continue
                if case["exp_alerts"]:
                    fires = True
                    fired = {a["exp_labels"].get("instance") for a in case["exp_alerts"]}
                    healthy_beside |= bool(instances - fired)
                else:
                    quiet = True
        assert fires, f"{alert}: no test where it fires"
        assert quiet, f"{alert}: no test where it stays quiet"
        assert healthy_beside, f"{alert}: no healthy series beside the sick one"


@pytest.mark.parametrize("alert", alert_names())
def test_the_rule_tests_fail_when_an_alert_is_broken(alert: str, tmp_path: Path) -> None:
    """The rule tests really test each alert: one that never fires, or always fires, is
    caught."""
    promtool = require_tool("promtool")
    for broken_expr in ("vector(0) > 1", "vector(1)"):
        rules = load_yaml(ALERTS)
        for group in rules["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    rule["expr"] = broken_expr
        (tmp_path / ALERTS.name).write_text(yaml.safe_dump(rules))
        (tmp_path / ALERTS_TEST.name).write_text(ALERTS_TEST.read_text())
        result = run([promtool, "test", "rules", ALERTS_TEST.name], cwd=tmp_path)
        assert result.returncode != 0, f"{alert} with expr {broken_expr!r} passed the tests"
        assert f"alertname: {alert}" in result.stdout + result.stderr


# -- Grafana --------------------------------------------------------------------------------


def test_grafana_dashboard_uses_the_provisioned_data_source_and_shows_every_topic() -> None:
    [source] = load_yaml(DATASOURCE)["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    board = dashboard()
    assert board["uid"] == "stream-al"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"] and all(
            t["datasource"]["uid"] == source["uid"] for t in panel["targets"]
        )
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
    names = metric_names_in(dashboard_exprs())
    for topic in (
        "stream_al_events_total",
        "stream_al_budget_target_ratio",
        "stream_al_uncertainty_threshold",
        "stream_al_accuracy_ratio",
        "stream_al_drift_detections_total",
        "stream_al_label_queue_depth",
        "stream_al_label_delay_seconds_bucket",
        "stream_al_consumer_lag_messages",
    ):
        assert topic in names, f"the dashboard shows no {topic}"
    by_outcome = [e for e in dashboard_exprs() if "sum by (outcome)" in e and "events_total" in e]
    assert by_outcome, "events/s by outcome"


# -- Kubernetes -----------------------------------------------------------------------------


def k8s_documents() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in load_yaml_all(path):
            if "kind" in doc and doc["kind"] != "Kustomization":
                docs[doc["kind"]] = doc
    return docs


def test_k8s_workload_has_probes_resources_non_root_and_a_read_only_root() -> None:
    docs = k8s_documents()
    assert {"StatefulSet", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"} <= set(docs)
    workload = docs["StatefulSet"]
    assert workload["spec"]["replicas"] >= 1
    pod = workload["spec"]["template"]["spec"]
    [container] = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == 9400
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ("metrics", 9400)
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # The image's user is the one the pod runs as.
    user = next(a for i, a in dockerfile_stages()[-1] if i == "USER")
    assert int(user.split(":")[0]) == pod["securityContext"]["runAsUser"]
    # Stable replica ids: the pod name (see statefulset.yaml for why not a Deployment).
    env = {v["name"]: v for v in container["env"]}
    assert env["STREAM_AL_SERVICE__REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.name"
    )
    assert container["envFrom"][0]["configMapRef"]["name"] == docs["ConfigMap"]["metadata"]["name"]


def test_the_grace_periods_outlast_the_longest_stop_of_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kubernetes and Compose kill serve after their grace period: it must outlast serve's
    own bound after a SIGTERM (``STREAM_AL_SERVICE__SHUTDOWN_SECONDS`` as each deployment
    sets it, plus the clients' close), or a stop that waits on Kafka is cut short by a
    SIGKILL, with no word in the log of what was left."""

    def bound(env: dict[str, str]) -> float:
        for name in [n for n in os.environ if n.startswith("STREAM_AL_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            if name.startswith("STREAM_AL_"):
                monkeypatch.setenv(name, value)
        return load_settings().service.shutdown_seconds + SHUTDOWN_CLOSE_S

    pod = k8s_documents()["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > bound(k8s_environment())
    grace = compose()["services"]["serve"]["stop_grace_period"]
    assert grace.endswith("s") and float(grace[:-1]) > bound(compose_environments()["serve"])


def test_k8s_serve_mounts_the_checkpoint_directory_from_a_claim_all_replicas_share() -> None:
    docs = k8s_documents()
    pod = docs["StatefulSet"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    directory = docs["ConfigMap"]["data"]["STREAM_AL_CHECKPOINT__DIR"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts[directory]]["persistentVolumeClaim"]["claimName"]
    pvc = docs["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == claim
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]  # every replica sees every copy
    assert "pvc.yaml" in load_yaml(K8S_DIR / "kustomization.yaml")["resources"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]


def test_k8s_secrets_are_references_and_the_example_holds_only_placeholders() -> None:
    docs = k8s_documents()
    secret = docs["Secret"]
    [container] = docs["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    refs = {
        v["name"]: v["valueFrom"]["secretKeyRef"]
        for v in container["env"]
        if "secretKeyRef" in v.get("valueFrom", {})
    }
    assert set(refs) == {"STREAM_AL_CHECKPOINT__KEY", "STREAM_AL_REDIS__PASSWORD"}
    for ref in refs.values():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    assert all("REPLACE-ME" in value for value in secret["stringData"].values())
    # No secret value anywhere else: the ConfigMap carries no secret setting.
    secret_settings = {
        "STREAM_AL_CHECKPOINT__KEY",
        "STREAM_AL_REDIS__PASSWORD",
        "STREAM_AL_KAFKA__SASL_PASSWORD",
    }
    assert not secret_settings & set(docs["ConfigMap"]["data"])
    # The example is not applied by the kustomization.
    kustomization = load_yaml(K8S_DIR / "kustomization.yaml")
    assert "secret.example.yaml" not in kustomization["resources"]
    assert all((K8S_DIR / r).is_file() for r in kustomization["resources"])


def test_k8s_service_and_disruption_budget_select_the_pods() -> None:
    docs = k8s_documents()
    pod_labels = docs["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    selector = docs["StatefulSet"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = docs["Service"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert docs["StatefulSet"]["spec"]["serviceName"] == service["metadata"]["name"]
    [port] = service["spec"]["ports"]
    assert port["port"] == 9400 and port["targetPort"] in ("metrics", 9400)
    pdb = docs["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"]
    assert "partitions" in (K8S_DIR / "statefulset.yaml").read_text()  # the scaling note


# -- README ----------------------------------------------------------------------------------


def test_readme_has_a_deploy_section_before_the_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "## Deploy" in text
    deploy = text[text.index("## Deploy") : text.index("## Commands")]
    assert text.index("## Deploy") < text.index("## Commands")
    for needle in (
        "docker build -f deploy/Dockerfile .",
        "docker compose --profile demo up",
        "deploy/k8s",
        "partitions",
        "#configuration",
        "#metrics",
    ):
        assert needle in deploy, needle
