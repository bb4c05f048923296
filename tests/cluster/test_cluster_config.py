"""cluster.yaml is checked offline with the Ray autoscaler's own defaults and JSON schema."""

import copy

import pytest
import yaml


def _prepared(root):
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((root / "cluster.yaml").read_text())
    config = prepare_config(copy.deepcopy(raw))
    validate_config(config)
    return raw, config


def test_cluster_yaml_is_valid_for_the_autoscaler(in_root):
    raw, config = _prepared(in_root)
    nodes = config["available_node_types"]
    assert config["head_node_type"] == "head" and "GPU" not in nodes["head"]["resources"]
    gpu = [n for n, t in nodes.items() if t["resources"].get("GPU")]
    assert gpu and all(nodes[n]["min_workers"] == 0 and nodes[n]["max_workers"] > 0 for n in gpu)  # autoscaling
    # every node installs the project exactly as `make` does, and runs Ray from that .venv
    assert any("make setup" in c for c in raw["setup_commands"])
    # … with that .venv first on PATH, so that a job's `python jobs/…` is the project's Python
    assert all(".venv/bin:$PATH" in c for c in raw["head_start_ray_commands"] + raw["worker_start_ray_commands"]
               if "ray start" in c)
    assert raw["file_mounts"] == {"~/swipe": "."}


def test_the_schema_check_catches_a_misspelt_key(in_root):
    from jsonschema import ValidationError
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((in_root / "cluster.yaml").read_text())
    raw["available_node_types"]["gpu_worker"]["min_worker"] = 0  # sic
    with pytest.raises(ValidationError, match="min_worker"):
        validate_config(prepare_config(raw))


def test_rayjob_matches_the_pins_and_names_real_files(in_root):
    """deploy/rayjob.yaml: a RayJob whose Ray version is the pinned one and whose
    entrypoint runs a job script and config that exist; the W&B key comes from a secret."""
    import re
    from importlib.metadata import version

    job = yaml.safe_load((in_root / "deploy/rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["rayClusterSpec"]["rayVersion"] == version("ray")
    pinned = re.search(r'"ray\[[^\]]*\]==([\d.]+)"', (in_root / "pyproject.toml").read_text()).group(1)
    assert pinned == version("ray")
    script, _, config = spec["entrypoint"].split()[1:4]
    assert (in_root / script).is_file() and (in_root / config).is_file()
    containers = [spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]]
    containers += [g["template"]["spec"]["containers"][0] for g in spec["rayClusterSpec"]["workerGroupSpecs"]]
    for c in containers:
        key = next(e for e in c["env"] if e["name"] == "WANDB_API_KEY")
        assert "value" not in key and key["valueFrom"]["secretKeyRef"]["name"] == "wandb"
