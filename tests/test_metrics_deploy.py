"""The compose file, Prometheus config and Kubernetes manifests validate and run what the tests run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rtcload.loadgen.settings import _OPTIONS
from tests.test_metrics_dashboards import SMOKE, dashboard_queries

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
METRIC_FLAGS = ["--rtc-metrics-port", "9646", "--rtc-metrics-host", "0.0.0.0", "--rtc-metrics-fixed-port"]


def locust_commands() -> list[list[str]]:
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    commands = [s["command"] for s in compose["services"].values() if s.get("command", [""])[0] == "locust"]
    for doc in yaml.safe_load_all((DOCKER / "k8s" / "rtcload.yaml").read_text()):
        if doc["kind"] == "Deployment":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                if c["command"][0] == "locust":
                    commands.append(c["command"])
    return commands


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian package docker-compose not installed")
def test_compose_file_validates_with_docker_compose():
    result = subprocess.run(
        ["docker-compose", "-f", str(DOCKER / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_kubernetes_manifests_parse_and_pods_are_scraped():
    docs = list(yaml.safe_load_all((DOCKER / "k8s" / "rtcload.yaml").read_text()))
    assert {d["kind"] for d in docs} == {"Service", "Deployment"}
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
        if doc["kind"] == "Deployment":
            template = doc["spec"]["template"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
            assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def test_deploy_commands_are_the_ones_the_tests_run():
    commands = locust_commands()
    assert len(commands) == 4  # compose master + worker, k8s master + worker
    flags = {flag for flag, *_ in _OPTIONS}
    for command in commands:
        assert command[command.index("-f") + 1] == SMOKE
        joined = " ".join(command)
        assert " ".join(METRIC_FLAGS) in joined, command
        assert all(arg in flags for arg in command if arg.startswith("--rtc-")), command
    scrape = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    assert {j["job_name"] for j in scrape["scrape_configs"]} == {
        "rtcload-emulator",
        "rtcload-master",
        "rtcload-workers",
    }


def test_dashboards_use_the_datasource_variable_and_are_provisioned():
    for path in sorted((REPO / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])
    assert len(dashboard_queries()) >= 30
    provider = yaml.safe_load((REPO / "dashboards" / "provisioning" / "dashboards" / "rtcload.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/rtcload"
