"""The image under the constraints of the Kubernetes Deployment (deploy/kubernetes/deployment.yaml).

No cluster runs here, so docker stands in for the kubelet: the options below are read from the
manifest itself, so the two cannot drift apart. The root file system is read-only, every
capability is dropped, privilege escalation is off, the user and group are the pod's, each
emptyDir is a tmpfs that is root-owned and mode 0777 without the sticky bit, group fsGroup (what
a Kubernetes emptyDir on the node's disk is; one in memory may also carry the sticky bit), and the
models are mounted read-only where the PersistentVolumeClaim is. The server must start, be ready
and predict.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from containers import IRIS, READY_TIMEOUT, docker, needs_containers

pytestmark = needs_containers

MANIFEST = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes" / "deployment.yaml"
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9, "": 1}


def _bytes(quantity: str) -> int:
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if quantity.endswith(suffix) and quantity[: len(quantity) - len(suffix)].isdigit():
            return int(quantity[: len(quantity) - len(suffix)]) * _UNITS[suffix]
    raise ValueError(f"not a quantity: {quantity!r}")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    [deployment] = [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc and doc["kind"] == "Deployment"]
    return deployment


@pytest.fixture(scope="module")
def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container_spec(pod_spec: dict[str, Any]) -> dict[str, Any]:
    [container] = pod_spec["containers"]
    return container


def docker_options(pod: dict[str, Any], container: dict[str, Any], models: Path) -> list[str]:
    """``docker run`` options that give the container what the pod spec gives it."""
    pod_context, context = pod.get("securityContext", {}), container.get("securityContext", {})
    user = context.get("runAsUser", pod_context.get("runAsUser"))
    group = context.get("runAsGroup", pod_context.get("runAsGroup"))
    fs_group = pod_context.get("fsGroup", 0)
    options = ["--user", f"{user}:{group}"]
    if fs_group:
        options += ["--group-add", str(fs_group)]  # the kubelet adds fsGroup to the container's groups
    if context.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    options += [f"--cap-drop={cap}" for cap in context.get("capabilities", {}).get("drop", [])]
    options += [f"--cap-add={cap}" for cap in context.get("capabilities", {}).get("add", [])]
    if context.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            tmpfs = f"{mount['mountPath']}:mode=0777,uid=0,gid={fs_group}"
            if volume["emptyDir"].get("sizeLimit"):
                tmpfs += f",size={_bytes(volume['emptyDir']['sizeLimit'])}"
            options += ["--tmpfs", tmpfs]
        elif "persistentVolumeClaim" in volume:
            read_only = mount.get("readOnly") or volume["persistentVolumeClaim"].get("readOnly")
            options += ["--volume", f"{models}:{mount['mountPath']}{':ro' if read_only else ''}"]
        else:
            pytest.fail(f"no docker stand-in for volume {volume['name']}: {volume}")
    return options


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal env values and its ConfigMap's (the Secret is optional and absent)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        [config] = [doc for doc in yaml.safe_load_all((MANIFEST.parent / "configmap.yaml").read_text())
                    if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name]
        env.update(config["data"])
    env.update({item["name"]: item["value"] for item in container.get("env", []) if "value" in item})
    return env


def test_the_server_starts_and_predicts_under_the_pods_constraints(start_container, model_repository,
                                                                   pod_spec, container_spec):
    [port] = container_spec["ports"]
    assert port["containerPort"] == 8000, "start_container publishes port 8000"
    options = docker_options(pod_spec, container_spec, model_repository)
    container = start_container(*options, env=environment(container_spec))
    probes = {probe: container_spec[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe",
                                                                            "livenessProbe")}
    deadline = time.monotonic() + READY_TIMEOUT
    while True:  # as the kubelet would: until every probe passes
        answers = {probe: requests.get(container.url + path, timeout=5).status_code for probe, path in probes.items()}
        if set(answers.values()) == {200} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answers == dict.fromkeys(probes, 200), container.logs()[-3000:]
    answer = requests.post(container.url + "/v1/models/iris/predict", json={"instances": [IRIS]}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == ["setosa"]

    # It really ran under those constraints, and its server root is the private folder in the volume.
    root = environment(container_spec)["MODELHOST_SERVER_ROOT"]
    facts = container.exec_python(
        "import os, stat\n"
        "status = dict(line.split(':', 1) for line in open('/proc/1/status'))\n"
        f"root = os.stat({root!r}); volume = os.stat({str(Path(root).parent)!r})\n"
        "[options] = [line.split()[3] for line in open('/proc/1/mounts') if line.split()[1] == '/']\n"
        "root_fs = 'read-only' if 'ro' in options.split(',') else 'writable'\n"
        "print(os.getuid(), status['NoNewPrivs'].strip(), int(status['CapEff'], 16), root_fs,\n"
        "      oct(stat.S_IMODE(root.st_mode)), root.st_uid, oct(stat.S_IMODE(volume.st_mode)), volume.st_uid)\n"
    ).split()
    user = container_spec.get("securityContext", {}).get("runAsUser", pod_spec["securityContext"]["runAsUser"])
    assert facts == [str(user), "1", "0", "read-only", "0o700", str(user), "0o777", "0"]


def test_the_pre_stop_command_runs_in_the_image(start_container, model_repository, pod_spec, container_spec):
    """The kubelet runs it inside the container: the image must have the program."""
    command = container_spec["lifecycle"]["preStop"]["exec"]["command"]
    container = start_container(*docker_options(pod_spec, container_spec, model_repository),
                                env=environment(container_spec))
    result = docker("exec", container.name, *command, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
