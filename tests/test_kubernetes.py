"""The Kubernetes manifests (deploy/kubernetes/): valid for the Kubernetes version they are written
for, and holding the settings a deployment depends on.

Every manifest is checked against the API schemas of ``KUBERNETES_VERSION`` that kubernetes-validate
bundles (no cluster, no network), in strict mode: a misspelt or misplaced field is an error, where
``kubectl apply`` would drop it, or refuse it, only once it reaches a cluster. The other tests read
the parsed manifests for what users rely on: probes, the security context, the volumes, the objects
that point at each other, the shutdown timing and the kustomization.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

FOLDER = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
#: The Kubernetes release the manifests are written for, whose schemas they are validated against.
KUBERNETES_VERSION = "1.34"
KUSTOMIZATION = "kustomization.yaml"
UID = 10001  # the image's modelhost user


def _documents() -> list[tuple[str, int, dict[str, Any]]]:
    """(file name, index in the file, document) of every YAML document of the folder."""
    found = []
    for path in sorted(FOLDER.glob("*.y*ml")):
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document is not None:
                found.append((path.name, index, document))
    return found


DOCUMENTS = _documents()
#: Every document except the kustomization, which is kustomize's, not an API object.
RESOURCES = [(name, index, doc) for name, index, doc in DOCUMENTS if name != KUSTOMIZATION]


def _one(kind: str) -> dict[str, Any]:
    [found] = [doc for _, _, doc in RESOURCES if doc["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return _one("Deployment")


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    [found] = pod["containers"]
    return found


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def _mount(container: dict[str, Any], pod: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volumeMount, volume) of the mount at ``path``."""
    [mount] = [m for m in container.get("volumeMounts", []) if m["mountPath"] == path]
    [volume] = [v for v in pod.get("volumes", []) if v["name"] == mount["name"]]
    return mount, volume


def test_the_folder_has_the_manifests_of_a_deployment():
    kinds = sorted(doc["kind"] for _, _, doc in RESOURCES)
    assert kinds == sorted(["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PersistentVolumeClaim",
                            "PodDisruptionBudget", "Service"])


def test_the_schemas_of_the_pinned_version_are_bundled():
    """The validation below must not fall back to another version or need the network."""
    assert KUBERNETES_VERSION in {kubernetes_validate.utils.major_minor(v)
                                  for v in kubernetes_validate.utils.all_versions()}


@pytest.mark.parametrize(("name", "index", "document"), RESOURCES,
                         ids=[f"{name}#{index}:{doc.get('kind')}" for name, index, doc in RESOURCES])
def test_every_manifest_is_valid_for_the_pinned_kubernetes_version(name, index, document):
    try:
        validated = kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{name}, document {index}: {exc.message} (at {'.'.join(map(str, exc.path))})")
    assert validated == KUBERNETES_VERSION, "validated against the schemas of the pinned version"


def test_strict_validation_refuses_an_unknown_field(deployment):
    """The check above can fail: a field Kubernetes does not know is an error, not ignored."""
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/", "port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_probes_ask_the_health_endpoints_on_the_named_port(container):
    [port] = container["ports"]
    assert port["name"] == "http" and port["containerPort"] == int(_env(container)["MODELHOST_PORT"]["value"])
    expected = {"startupProbe": "/health/live", "readinessProbe": "/health/ready", "livenessProbe": "/health/live"}
    for probe, path in expected.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    startup = container["startupProbe"]
    # A cold start takes ~5 s; slow nodes and large repositories get well over a minute.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_the_server_runs_unprivileged_on_a_read_only_root(pod, container):
    pod_context, context = pod["securityContext"], container["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] == pod_context["runAsGroup"] == pod_context["fsGroup"] == UID
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add")
    assert "runAsUser" not in context or context["runAsUser"] == UID
    # The Service is called modelhost: its links would set MODELHOST_PORT=tcp://... in the pod.
    assert pod["enableServiceLinks"] is False


def test_the_server_root_is_a_folder_in_a_memory_emptydir(pod, container):
    """Directly in the volume: the start script accepts a folder every user can write to (an
    emptyDir) only as the server root's parent, and only when it is a mount point."""
    root = Path(_env(container)["MODELHOST_SERVER_ROOT"]["value"])
    assert root.is_absolute()
    mount, volume = _mount(container, pod, str(root.parent))
    assert not mount.get("readOnly") and not mount.get("subPath")
    assert volume["emptyDir"]["medium"] == "Memory" and volume["emptyDir"]["sizeLimit"]


def test_tmp_is_writable(pod, container):
    """The root file system is read-only; Python's temporary files (CSV scoring spools) go to /tmp."""
    mount, volume = _mount(container, pod, "/tmp")
    assert not mount.get("readOnly") and "emptyDir" in volume and volume["emptyDir"].get("sizeLimit")


def test_the_models_come_read_only_from_the_claim(pod, container):
    assert _env(container)["MODELHOST_MODEL_REPOSITORY"]["value"] == "/models"
    mount, volume = _mount(container, pod, "/models")
    assert mount["readOnly"] is True
    claim = volume["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    pvc = _one("PersistentVolumeClaim")
    assert claim["claimName"] == pvc["metadata"]["name"]
    assert pvc["spec"]["accessModes"] == ["ReadOnlyMany"]


def test_tokens_come_from_an_optional_secret_and_no_secret_is_committed(container):
    assert not [doc for _, _, doc in RESOURCES if doc["kind"] == "Secret"]
    for name in ("MODELHOST_API_TOKEN", "MODELHOST_ADMIN_TOKEN"):
        item = _env(container)[name]
        assert "value" not in item
        assert item["valueFrom"]["secretKeyRef"]["optional"] is True


def test_the_tuning_configmap_is_the_one_the_pod_reads(container):
    config = _one("ConfigMap")
    assert {"configMapRef": {"name": config["metadata"]["name"]}} in container["envFrom"]
    assert all(key.startswith("MODELHOST_") for key in config["data"])


def test_the_service_selects_the_pods_of_the_deployment(deployment):
    service = _one("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector and selector.items() <= labels.items()
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["type"] == "ClusterIP"
    [port] = service["spec"]["ports"]
    assert port["port"] == 80 and port["targetPort"] == "http"


def test_the_disruption_budget_and_the_autoscaler_target_the_deployment(deployment):
    budget, autoscaler = _one("PodDisruptionBudget"), _one("HorizontalPodAutoscaler")
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert budget["spec"].get("maxUnavailable") == 1 or budget["spec"].get("minAvailable", 0) >= 2
    target = autoscaler["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": deployment["apiVersion"], "kind": "Deployment",
                      "name": deployment["metadata"]["name"]}
    assert autoscaler["spec"]["minReplicas"] == deployment["spec"]["replicas"] == 3
    [metric] = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    assert autoscaler["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0


_SUFFIXES = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _quantity(value: str | int | float) -> float:
    """A Kubernetes quantity as a number (the schema only says "string or number")."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?", str(value))
    assert match, f"{value!r} is not a quantity"
    return float(match[1]) * _SUFFIXES[match[2] or ""]


def test_the_resources_are_requests_and_limits_of_cpu_and_memory(container):
    """The autoscaler's utilization is a share of the CPU request; the CPU limit gives each process a core."""
    resources = container["resources"]
    for kind in ("cpu", "memory"):
        assert 0 < _quantity(resources["requests"][kind]) <= _quantity(resources["limits"][kind]), kind
    processes = int(_one("ConfigMap")["data"]["MODELHOST_PROCESSES"])
    assert _quantity(resources["limits"]["cpu"]) == processes
    assert _quantity(resources["requests"]["memory"]) >= 256 * 2**20, "the server measured over 300 MiB idle"


def test_a_rollout_keeps_every_replica_serving(deployment):
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0 and strategy["rollingUpdate"]["maxSurge"] == 1


def test_the_grace_period_covers_the_pre_stop_sleep_and_apaches_graceful_stop(pod, container):
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2
    graceful = int(_env(container)["MODELHOST_GRACEFUL_TIMEOUT"]["value"])
    assert pod["terminationGracePeriodSeconds"] >= int(command[1]) + graceful


def test_the_kustomization_lists_every_manifest_of_the_folder():
    [kustomization] = [doc for name, _, doc in DOCUMENTS if name == KUSTOMIZATION]
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "no manifest listed twice"
    files = {path.name for path in FOLDER.iterdir() if path.is_file() and path.name != KUSTOMIZATION}
    assert set(listed) == files
