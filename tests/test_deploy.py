"""deploy/: the Dockerfile, the Kubernetes manifests and the Envoy configuration, checked offline.

The validators live in an environment of their own, .venv-deploy (created
by .ci/run from deploy/requirements-validate.txt); without it those tests
are skipped. The consistency checks (probes, ports, names across files)
need only PyYAML.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import REPO

DEPLOY = REPO / "deploy"
TOOLS = REPO / ".venv-deploy" / "bin"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
ENVOY = DEPLOY / "envoy" / "envoy.yaml"
SERVICE = "alinea.v1.Translation"


def _tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.skip(f"{path} is not installed: python3 -m venv .venv-deploy && "
                    ".venv-deploy/bin/pip install -r deploy/requirements-validate.txt")
    return path


def _run(*command: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=120)


def test_manifests_match_the_kubernetes_schemas():
    result = _run(_tool("kubernetes-validate"), "--strict", *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(MANIFESTS) == 3


def test_yaml_is_clean():
    result = _run(_tool("yamllint"), "-c", DEPLOY / "yamllint.yaml", "--strict", DEPLOY / "k8s", DEPLOY / "envoy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_lints_clean():
    result = _run(_tool("hadolint"), DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_config_matches_the_envoy_api(tmp_path):
    python = _tool("python")
    result = _run(python, DEPLOY / "validate_envoy.py", ENVOY)
    assert result.returncode == 0 and "valid" in result.stdout, result.stdout + result.stderr
    # The check is not vacuous: a misspelt policy, an undefined cluster and an empty required string all fail.
    text = ENVOY.read_text(encoding="utf-8")
    for broken in (text.replace("LEAST_REQUEST", "LEAST_REQUESTS"), text.replace("cluster: alinea\n", "cluster: other\n"),
                   text.replace("stat_prefix: alinea", 'stat_prefix: ""')):
        assert broken != text
        (tmp_path / "envoy.yaml").write_text(broken, encoding="utf-8")
        assert _run(python, DEPLOY / "validate_envoy.py", tmp_path / "envoy.yaml").returncode == 1


def test_files_agree_with_each_other_and_the_server():
    yaml = pytest.importorskip("yaml")
    docs = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in MANIFESTS}
    deployment, service, hpa = docs["deployment"], docs["service"], docs["hpa"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    # Probes ask the server's own health service, on its port; readiness for the Translation service.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == ports["grpc"] == 50051
    assert container["readinessProbe"]["grpc"]["service"] == SERVICE
    assert env["ALINEA_HOST"] == "0.0.0.0" and int(env["ALINEA_METRICS_PORT"]) == ports["metrics"]
    # SIGKILL comes after the server's grace period and the preStop pause.
    assert pod["spec"]["terminationGracePeriodSeconds"] > float(env["ALINEA_GRACE_PERIOD"]) + \
        container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # The Service is headless (per-call balancing by clients or Envoy) and selects the pods.
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    assert "requests" in container["resources"] and "cpu" in container["resources"]["requests"]  # HPA needs it
    # Envoy reaches the same Service and health service.
    envoy = yaml.safe_load(ENVOY.read_text(encoding="utf-8"))
    cluster = envoy["static_resources"]["clusters"][0]
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address["address"].startswith(service["metadata"]["name"] + ".")
    assert address["port_value"] == service["spec"]["ports"][0]["port"]
    assert cluster["health_checks"][0]["grpc_health_check"]["service_name"] == SERVICE
    # The image runs the server as the user the pod expects.
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert f"USER {pod['spec']['securityContext']['runAsUser']}" in dockerfile
    assert 'ENTRYPOINT ["alinea-server"]' in dockerfile
