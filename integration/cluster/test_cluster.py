"""Replicas behind the balancer under load: graceful removal, crash, model rollout, rolling update.

Every test runs ``CLIENTS`` client threads through the balancer for its whole length, each
predicting over its own keep-alive connection one request after another (``Load``). A request
counts as failed unless it is a 200 with the right predictions.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import requests
from containers import IRIS, Load, docker, make_readable

CLIENTS = 8
#: Seconds the load runs before and after each change, at least.
STEADY_SECONDS = 5.0
#: The balancer's health check interval (compose.yaml): a replica that stops answering is out
#: of rotation within this plus the connect timeout (1 s).
OUT_WITHIN = 2.0
#: The server loads a version once its files stayed the same for this long (fixed in the server).
SETTLE_SECONDS = 1.0


def steady(load: Load, seconds: float = STEADY_SECONDS) -> None:
    """Let the load run ``seconds`` more, and check it got answers meanwhile."""
    before = load.successes
    time.sleep(seconds)
    assert load.successes > before, f"no prediction succeeded in {seconds} s; failures: {load.failures[:3]}"


def logs_of(name: str) -> str:
    result = docker("logs", name, check=False)
    return result.stdout + result.stderr


def test_request_id_is_the_same_at_the_client_the_balancer_and_the_replica(cluster) -> None:
    response = requests.post(cluster.url + "/v1/models/iris/predict", json={"instances": [IRIS]},
                             headers={"X-Request-ID": "cluster-id-1"}, timeout=10)
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "cluster-id-1"
    # Without one, the balancer makes the id; the replica keeps it and answers with it.
    response = requests.post(cluster.url + "/v1/models/iris/predict", json={"instances": [IRIS]}, timeout=10)
    made = response.headers["X-Request-ID"]
    assert response.status_code == 200 and made
    deadline = time.monotonic() + 10
    while True:
        balancer_lines = [line for line in logs_of(cluster.balancer()).splitlines() if f"request_id={made}" in line]
        replica_lines = [line for name in cluster.replicas() for line in logs_of(name).splitlines() if made in line]
        if balancer_lines and replica_lines:
            break
        assert time.monotonic() < deadline, f"request id {made} not logged by the balancer and a replica"
        time.sleep(0.5)
    # The balancer's line names the replica that answered.
    assert "replica=http://" in balancer_lines[0], balancer_lines[0]


def test_docker_stop_of_a_replica_fails_no_request(cluster, record: list[str]) -> None:
    replicas = cluster.replicas()
    stopped = replicas[0]
    try:
        with Load(cluster.url, CLIENTS) as load:
            load.wait_for_successes(100)
            steady(load)
            started = time.monotonic()
            docker("stop", stopped, timeout=60)
            stop_seconds = time.monotonic() - started
            # Out by its failing health check, or dropped once its name is gone from the DNS.
            out_seconds = cluster.wait_for_rotation(set(replicas) - {stopped}, timeout=10)
            steady(load)
    finally:
        docker("start", stopped)
    assert load.failures == [], f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:5]}"
    record.append(f"docker stop of 1 of 3 replicas: {load.sent} requests by {CLIENTS} clients, 0 failed; "
                  f"docker stop took {stop_seconds:.1f} s, out of rotation {out_seconds:.1f} s after it returned")
    cluster.wait_for_rotation(set(replicas))


def test_killed_replica_fails_only_its_requests_in_flight_and_comes_back(cluster, record: list[str]) -> None:
    replicas = cluster.replicas()
    killed = replicas[1]
    try:
        with Load(cluster.url, CLIENTS) as load:
            load.wait_for_successes(100)
            steady(load)
            failed_before = len(load.failures)
            assert failed_before == 0, load.failures[:5]
            killed_at = time.monotonic()
            docker("kill", killed)
            while killed in cluster.in_rotation():
                assert time.monotonic() - killed_at < 10, f"{killed} still in rotation 10 s after docker kill"
                time.sleep(0.05)
            out_seconds = time.monotonic() - killed_at
            steady(load)
            failed_after_kill = len(load.failures)
            # Back: restarted (as a restart policy or an orchestrator would), it rejoins once ready.
            restarted_at = time.monotonic()
            docker("start", killed)
            back_seconds = cluster.wait_for_rotation(set(replicas))
            steady(load)
    finally:
        docker("start", killed)
    failures = load.failures
    # Each client has one request in flight at a time, so at most CLIENTS can have been on the
    # killed replica; none may fail after it was taken out of rotation, nor while it came back.
    assert len(failures) <= CLIENTS, f"{len(failures)} requests failed: {failures[:5]}"
    assert len(failures) == failed_after_kill, (
        f"requests failed while {killed} came back: {failures[failed_after_kill:]}")
    assert out_seconds <= OUT_WITHIN, f"{killed} left the rotation {out_seconds:.2f} s after docker kill"
    record.append(f"docker kill of 1 of 3 replicas: {len(failures)} of {load.sent} requests failed (in flight "
                  f"on it; at most {CLIENTS}); out of rotation {out_seconds:.2f} s after the kill; back in "
                  f"rotation {back_seconds:.1f} s after docker start (start-up and model loading included)")
    assert restarted_at > killed_at


def serving(cluster, replica: str) -> str:
    """The default version of iris as the replica itself says (asked inside its container)."""
    return docker("exec", replica, "python3", "-c",
                  "import json, urllib.request; "
                  "print(json.load(urllib.request.urlopen('http://127.0.0.1:8000/v1/models/iris'))['version'])"
                  ).stdout.strip()


def test_a_new_version_in_the_shared_repository_reaches_every_replica(cluster, record: list[str], poll_seconds) -> None:
    versions = sorted(int(path.name) for path in (cluster.models / "iris").iterdir() if path.name.isdigit())
    new = str(versions[-1] + 1)
    replicas = cluster.replicas()
    assert all(serving(cluster, replica) == str(versions[-1]) for replica in replicas)
    with Load(cluster.url, CLIENTS) as load:
        load.wait_for_successes(100)
        steady(load)
        copied_at = time.monotonic()
        shutil.copytree(cluster.models / "iris" / str(versions[-1]), cluster.models / "iris" / new)
        make_readable(cluster.models / "iris" / new)
        bound = poll_seconds + SETTLE_SECONDS + 8.0
        while load.versions[new] == 0 or any(serving(cluster, replica) != new for replica in replicas):
            assert time.monotonic() - copied_at < bound, (
                f"version {new} not served by every replica {bound:.0f} s after it was copied in: "
                f"{ {replica: serving(cluster, replica) for replica in replicas} }")
            time.sleep(0.2)
        everywhere = time.monotonic() - copied_at
        steady(load)
        old_last = load.last_sent.get(str(versions[-1]), 0.0)
    assert load.failures == [], f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:5]}"
    # Once every replica serves it, no answer comes from the old version any more.
    assert old_last - copied_at < everywhere + 0.5, "the old version answered after the rollout finished"
    record.append(f"model rollout (new iris version copied into the shared repository): every replica "
                  f"serves it {everywhere:.1f} s after the copy (poll {poll_seconds} s + settle {SETTLE_SECONDS:.0f} s "
                  f"+ load); {load.sent} requests, 0 failed")


def readiness(replica: str) -> tuple[int, dict[str, str]]:
    """The replica's own /health/ready (asked inside its container): status and each model's status."""
    out = docker("exec", replica, "python3", "-c",
                 "import json, urllib.error, urllib.request\n"
                 "try:\n"
                 "    answer = urllib.request.urlopen('http://127.0.0.1:8000/health/ready')\n"
                 "except urllib.error.HTTPError as error:\n"
                 "    answer = error\n"
                 "body = json.load(answer)\n"
                 "print(json.dumps([answer.status, {m['name']: m['status'] for m in body['models']}]))\n"
                 ).stdout
    status, models = json.loads(out)
    return status, models


def test_a_broken_model_copied_in_keeps_every_replica_in_rotation(cluster, record: list[str], poll_seconds) -> None:
    """A new model that cannot be read is failed on every replica; none leaves the rotation, nothing fails."""
    replicas = cluster.replicas()
    leak = cluster.models / "leak"
    try:
        with Load(cluster.url, CLIENTS) as load:
            load.wait_for_successes(100)
            steady(load)
            copied_at = time.monotonic()
            (leak / "1").mkdir(parents=True)
            (leak / "1" / "model.pkl").write_bytes(b"\x80\x04 not a model")
            make_readable(leak)
            (leak / "1" / "model.pkl").chmod(0o000)  # and unreadable by the replicas' user
            bound = poll_seconds + SETTLE_SECONDS + 8.0
            while True:
                states = {replica: readiness(replica) for replica in replicas}
                if all(models.get("leak") == "failed" for _, models in states.values()):
                    break
                assert time.monotonic() - copied_at < bound, f"leak not failed on every replica: {states}"
                time.sleep(0.2)
            seen = time.monotonic() - copied_at
            # Several health checks of the balancer later, every replica is still in rotation.
            watched_until = time.monotonic() + 3 * OUT_WITHIN
            while time.monotonic() < watched_until:
                assert cluster.in_rotation() == set(replicas), cluster.members()
                time.sleep(0.2)
            for replica, (status, models) in {replica: readiness(replica) for replica in replicas}.items():
                assert status == 200 and models["leak"] == "failed" and models["iris"] != "failed", (replica, models)
            assert requests.get(cluster.url + "/health/ready", timeout=5).status_code == 200
            steady(load)
    finally:
        shutil.rmtree(leak, ignore_errors=True)
    assert load.failures == [], f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:5]}"
    # Gone from the repository, gone from every replica (the suite's later replicas start without it).
    deadline = time.monotonic() + poll_seconds + SETTLE_SECONDS + 8.0
    while any("leak" in readiness(replica)[1] for replica in replicas):
        assert time.monotonic() < deadline, "leak still listed after it was removed"
        time.sleep(0.2)
    record.append(f"broken new model copied into the shared repository: failed on every replica {seen:.1f} s after "
                  f"the copy, all {len(replicas)} replicas stayed in rotation; {load.sent} requests, 0 failed")


def test_rolling_image_update_fails_no_request(cluster, record: list[str]) -> None:
    # A new image: the same server with one more label, so its id differs from the running one.
    new_image = "modelhost:cluster-test-update"
    build = subprocess.run(
        ["docker", "build", "-q", "-t", new_image, "-"], input=f"FROM {cluster.env['MODELHOST_IMAGE']}\n"
        "LABEL org.opencontainers.image.version=cluster-test-update\n", capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    new_id = docker("image", "inspect", "-f", "{{.Id}}", new_image).stdout.strip()
    old = cluster.replicas()
    try:
        cluster.env["MODELHOST_IMAGE"] = new_image
        with Load(cluster.url, CLIENTS) as load:
            load.wait_for_successes(100)
            steady(load)
            started = time.monotonic()
            result = cluster.cluster_script("update", cluster.project, new_image, cluster.url)
            update_seconds = time.monotonic() - started
            assert result.returncode == 0, result.stderr
            steady(load)
        replicas = cluster.replicas()
        assert len(replicas) == len(old) and not set(replicas) & set(old), (old, replicas, result.stderr)
        assert all(docker("inspect", "-f", "{{.Image}}", name).stdout.strip() == new_id for name in replicas)
        assert cluster.in_rotation() == set(replicas)
        assert load.failures == [], f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:5]}"
        assert requests.get(cluster.url + "/health/ready", timeout=5).status_code == 200
    finally:
        cluster.env["MODELHOST_IMAGE"] = os.environ.get("IMAGE", "modelhost:latest")
    record.append(f"rolling image update of 3 replicas (one new replica started, then one old one drained and stopped, "
                  f"three times): {load.sent} requests in {update_seconds:.0f} s, 0 failed")


def test_with_no_replica_ready_the_balancer_answers_a_problem_document(cluster) -> None:
    replicas = cluster.replicas()
    for name in replicas:
        docker("stop", name, timeout=60)
    try:
        cluster.wait_for_rotation(set(), timeout=30)
        response = requests.post(cluster.url + "/v1/models/iris/predict", json={"instances": [IRIS]},
                                 headers={"X-Request-ID": "cluster-id-503"}, timeout=10)
        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 503 and problem["title"] == "Service Unavailable"
        assert "No replica is ready" in problem["detail"] and problem["request_id"] == "cluster-id-503"
        assert problem["instance"] == "/v1/models/iris/predict"
        assert response.headers["X-Request-ID"] == "cluster-id-503"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        for name in replicas:
            docker("start", name)
    cluster.wait_for_rotation(set(replicas))
    answer = requests.post(cluster.url + "/v1/models/iris/predict", json={"instances": [IRIS]}, timeout=10)
    assert answer.status_code == 200, answer.text


def test_the_readme_steps_go_from_nothing_to_three_replicas(cluster, tmp_path, free_port, project_root, image,
                                                            balancer_image) -> None:
    """make cluster-up / cluster-update / cluster-down as the README gives them, on a project of their own."""
    models = tmp_path / "models"
    port = str(free_port())
    project = f"{cluster.project}-readme"
    make = ["make", "--no-print-directory", "-C", str(project_root), f"CLUSTER={project}", f"CLUSTER_PORT={port}",
            f"CLUSTER_MODELS={models}", f"IMAGE={image}", f"BALANCER_IMAGE={balancer_image}"]
    tmp_path.chmod(0o755)
    try:
        up = subprocess.run([*make, "cluster-up", "REPLICAS=2"], capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
        # The empty repository got the image's demo models; both replicas are in rotation.
        assert {path.name for path in models.iterdir()} >= {"iris", "breast_cancer", "diabetes"}
        assert "2 replicas in rotation" in up.stderr
        url = f"http://127.0.0.1:{port}"
        answer = requests.post(url + "/v1/models/iris/predict", json={"instances": [IRIS]}, timeout=10)
        assert answer.status_code == 200 and answer.json()["predictions"] == ["setosa"]
        scaled = subprocess.run([*make, "cluster-up", "REPLICAS=3"], capture_output=True, text=True, timeout=600)
        assert scaled.returncode == 0 and "3 replicas in rotation" in scaled.stderr, scaled.stdout + scaled.stderr
        update = subprocess.run([*make, "cluster-update"], capture_output=True, text=True, timeout=600)
        assert update.returncode == 0, update.stdout + update.stderr
        assert "3 replicas, 0 to replace" in update.stderr
    finally:
        down = subprocess.run([*make, "cluster-down"], capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    left = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "-q").stdout.split()
    assert left == [], f"containers left after make cluster-down: {left}"
