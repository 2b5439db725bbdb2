"""Offline validation of cluster/ and docker/: what can be checked without AWS or Kubernetes.

The launcher config goes through Ray's own ``prepare_config`` + ``validate_config`` (the
ray-schema.json check ``ray up`` runs); KubeRay manifests are checked for the fields raysift
relies on (there is no offline KubeRay CRD validator in the Python environment).
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "cluster"


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((CLUSTER / name).read_text()) if d is not None]


def _one(name: str, kind: str) -> dict:
    found = [d for d in _docs(name) if d.get("kind") == kind]
    assert len(found) == 1, f"{name}: expected one {kind}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize(
    "name", ["aws-cluster.yaml", "kuberay-raycluster.yaml", "kuberay-rayjob.yaml", "cronjob.yaml"]
)
def test_yaml_parses(name: str) -> None:
    docs = _docs(name)
    assert docs and all(isinstance(d, dict) for d in docs)


def test_aws_launcher_config_passes_rays_validation() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((CLUSTER / "aws-cluster.yaml").read_text())
    prepared = prepare_config(copy.deepcopy(raw))
    validate_config(prepared)  # raises jsonschema.ValidationError on a bad config
    assert prepared["provider"]["type"] == "aws"
    workers = prepared["available_node_types"]["ray.worker.cpu"]
    assert workers["min_workers"] == 0 and workers["max_workers"] == 100
    assert prepared["max_workers"] >= 100
    head = prepared["available_node_types"][prepared["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    for node_type in prepared["available_node_types"].values():
        assert node_type["node_config"]["IamInstanceProfile"]["Name"], "S3 via instance profile"
    setup = " ".join(prepared["setup_commands"])
    assert "pip install" in setup and "raysift" in setup
    assert prepared["file_mounts"]["/home/ray/raysift"] == "."


def test_rays_validation_rejects_a_typo() -> None:
    """The check above can fail: a misspelt field is refused by the same validation."""
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((CLUSTER / "aws-cluster.yaml").read_text())
    raw["available_node_types"]["ray.worker.cpu"]["max_workrs"] = 3
    with pytest.raises(jsonschema.ValidationError, match="max_workrs"):
        validate_config(prepare_config(raw))


def _check_cluster_spec(spec: dict, where: str) -> None:
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0", f"{where}: head runs no tasks"
    head_containers = head["template"]["spec"]["containers"]
    assert head_containers[0]["image"], where
    groups = spec["workerGroupSpecs"]
    assert groups, f"{where}: no workerGroupSpecs"
    for g in groups:
        assert isinstance(g["minReplicas"], int) and isinstance(g["maxReplicas"], int), where
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], where
        assert g["maxReplicas"] >= 100, f"{where}: scales to 100 nodes"
        c = g["template"]["spec"]["containers"][0]
        assert c["image"] == head_containers[0]["image"], f"{where}: head and workers share the image"
        assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"], where
        assert g["template"]["spec"]["serviceAccountName"] == "raysift", f"{where}: S3 via IRSA"
    assert spec["rayVersion"] == _pinned_ray_version()


def _pinned_ray_version() -> str:
    m = re.search(r"FROM rayproject/ray:([0-9.]+)", (REPO / "docker" / "Dockerfile").read_text())
    assert m, "docker/Dockerfile: FROM rayproject/ray:<version>"
    return m.group(1)


def _check_entrypoint(entrypoint: str, where: str) -> None:
    argv = shlex.split(entrypoint)
    assert argv[:3] == ["python", "-m", "jobs.pipeline"], f"{where}: {argv[:3]}"
    opts = dict(zip(argv[3::2], argv[4::2]))
    assert opts["--input"].startswith("s3://commoncrawl/crawl-data/"), where
    assert opts["--output"].startswith("s3://"), where
    assert opts["--ledger"].startswith("s3://"), where
    assert int(opts["--max-files"]) > 0, where


def test_kuberay_raycluster() -> None:
    rc = _one("kuberay-raycluster.yaml", "RayCluster")
    assert rc["apiVersion"] == "ray.io/v1"
    assert rc["spec"]["enableInTreeAutoscaling"] is True
    _check_cluster_spec(rc["spec"], "RayCluster")


def test_kuberay_rayjob() -> None:
    job = _one("kuberay-rayjob.yaml", "RayJob")
    assert job["apiVersion"] == "ray.io/v1"
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    _check_entrypoint(job["spec"]["entrypoint"], "RayJob")
    _check_cluster_spec(job["spec"]["rayClusterSpec"], "RayJob")


def test_cronjob_creates_the_nightly_rayjob() -> None:
    cron = _one("cronjob.yaml", "CronJob")
    assert cron["apiVersion"] == "batch/v1"
    fields = cron["spec"]["schedule"].split()
    assert len(fields) == 5, "five-field cron schedule"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert command[:2] == ["kubectl", "create"]
    cm = _one("cronjob.yaml", "ConfigMap")
    assert cm["metadata"]["name"] == pod["volumes"][0]["configMap"]["name"]
    mount = pod["containers"][0]["volumeMounts"][0]["mountPath"]
    key = command[-1].removeprefix(mount + "/")
    job = yaml.safe_load(cm["data"][key])
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["metadata"]["generateName"], "each night creates a new RayJob"
    _check_entrypoint(job["spec"]["entrypoint"], "nightly RayJob")
    _check_cluster_spec(job["spec"]["rayClusterSpec"], "nightly RayJob")
    role = _one("cronjob.yaml", "Role")
    assert {"create"} <= set(role["rules"][0]["verbs"]) and "rayjobs" in role["rules"][0]["resources"]
    binding = _one("cronjob.yaml", "RoleBinding")
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]


def test_dockerfile_on_official_ray_image_installs_the_project() -> None:
    text = (REPO / "docker" / "Dockerfile").read_text()
    instructions = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert instructions[0].startswith("FROM rayproject/ray:")
    assert re.search(r"pip install[^\n]* \.", text), "pip install the project"
    copied = {ln.split()[-2].strip("./") for ln in instructions if ln.startswith("COPY")}
    copied |= {p for ln in instructions if ln.startswith("COPY") for p in ln.split()[1:-1]}
    for needed in ("pyproject.toml", "operators", "jobs", "recipes"):
        assert any(needed in c for c in copied), f"Dockerfile does not COPY {needed}"
    # every package the project ships must be copied into the image
    import tomllib

    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in include:
        top = pattern.rstrip("*")
        assert any(top in c for c in copied), f"Dockerfile does not COPY package {top}"
