"""deploy/k8s, checked structurally (no cluster here): a Deployment per service with probes,
resources, ConfigMap and Secret references, and a KEDA ScaledObject per agent on group lag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.pipeline import PIPELINE
from shared.ops.acl import build_users
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
USERS = {u.name: u for u in build_users(PIPELINE)}
SECRET = "baton-redis"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


@pytest.fixture(scope="module")
def by_kind() -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in documents():
        assert {"apiVersion", "kind", "metadata"} <= doc.keys()
        found.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return found


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert [i["name"] for i in kustomization["images"]] == ["baton"]


def test_configmap_holds_the_shared_settings(by_kind: dict[str, dict[str, Any]]) -> None:
    data = by_kind["ConfigMap"]["baton-config"]["data"]
    assert all(isinstance(v, str) for v in data.values())
    assert {"BATON_PREFIX", "REDIS_ADDRESS", "OTEL_EXPORTER_OTLP_ENDPOINT"} <= data.keys()
    BatonSettings(prefix=data["BATON_PREFIX"])  # a valid prefix


def test_a_deployment_per_service(by_kind: dict[str, dict[str, Any]]) -> None:
    deployments = by_kind["Deployment"]
    assert set(deployments) == {f"baton-{s}" for s in PIPELINE.services}
    grace = float(by_kind["ConfigMap"]["baton-config"]["data"]["BATON_SHUTDOWN_GRACE_S"])
    for service in PIPELINE.services:
        spec = deployments[f"baton-{service}"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] == service
        pod = spec["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > grace
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["image"] == "baton"  # set by kustomization `images`
        assert container["args"] == ["worker", service]
        check = [
            "python",
            "-m",
            "shared.runtime.health",
        ]  # reads the heartbeat file in the /tmp volume
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"] == check, (service, probe)
            assert container[probe]["timeoutSeconds"] >= 5
        # The heartbeat file (BATON_HEARTBEAT_FILE, set by the image) must be writable there.
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys()
        assert "memory" in resources["limits"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert [e["configMapRef"]["name"] for e in container["envFrom"]] == ["baton-config"]
        env = {e["name"]: e for e in container["env"]}
        assert env["BATON_REDIS_USERNAME"]["value"] == service
        secret = env["BATON_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert secret == {"name": SECRET, "key": USERS[service].password_var}
        assert env["REDIS_URL"]["value"] == (
            "redis://$(BATON_REDIS_USERNAME):$(BATON_REDIS_PASSWORD)@$(REDIS_ADDRESS)/0"
        )
        names = [e["name"] for e in container["env"]]  # $(VAR) only sees earlier variables
        assert names.index("REDIS_URL") > names.index("BATON_REDIS_PASSWORD")
        assert env["OTEL_SERVICE_NAME"]["value"] == f"baton-{service}"


def test_a_lag_scaled_object_per_agent(by_kind: dict[str, dict[str, Any]]) -> None:
    scaled = by_kind["ScaledObject"]
    deployments = by_kind["Deployment"]
    keys = Keys(by_kind["ConfigMap"]["baton-config"]["data"]["BATON_PREFIX"])
    assert set(scaled) == {f"baton-{a}" for a in PIPELINE.agent_names}
    auth = by_kind["TriggerAuthentication"]
    for agent in PIPELINE.agent_names:
        spec = scaled[f"baton-{agent}"]["spec"]
        target = spec["scaleTargetRef"]["name"]
        assert target == f"baton-{agent}"
        assert target in deployments
        assert "replicas" not in deployments[target]["spec"]  # KEDA owns it
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis-streams"
        meta = trigger["metadata"]
        assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is string-valued
        assert meta["stream"] == keys.stream(PIPELINE.input_stream(agent))
        assert meta["consumerGroup"] == agent
        assert int(meta["lagCount"]) > 0
        assert "activationLagCount" in meta
        assert meta["addressFromEnv"] in by_kind["ConfigMap"]["baton-config"]["data"]
        refs = auth[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        keda = USERS["keda"]
        assert {(r["parameter"], r["name"], r["key"]) for r in refs} == {
            ("username", SECRET, f"{keda.env_prefix}_USERNAME"),
            ("password", SECRET, keda.password_var),
        }


def test_the_validator_has_fixed_replicas(by_kind: dict[str, dict[str, Any]]) -> None:
    assert by_kind["Deployment"]["baton-validator"]["spec"]["replicas"] >= 2
