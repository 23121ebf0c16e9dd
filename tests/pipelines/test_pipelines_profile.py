"""The profile built with build_dataclass: messages name the file and the key."""

from __future__ import annotations

import pytest

from components.errors import UserError
from pipelines import profile


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"volumes": {"data": {"pvc": "d"}}}, "volumes.data: missing key 'mount_path'"),
        (
            {"volumes": {"data": {"pvc": "d", "mount_path": "/m", "size": 1}}},
            "volumes.data: unknown key 'size'",
        ),
        ({"volumes": {"data": {"pvc": 4, "mount_path": "/m"}}}, "volumes.data.pvc"),
        ({"volumes": {"data": 3}}, "volumes.data"),
        ({"steps": {"train": {"retry": {"backoff_factor": 2}}}}, "missing key 'num_retries'"),
        ({"steps": {"train": {"retry": {"num_retries": "x"}}}}, "steps.train.retry.num_retries"),
        ({"steps": {"train": {"retry": {"num_retries": -1}}}}, "expected an integer >= 0"),
        (
            {"steps": {"train": {"retry": {"num_retries": 1, "backoff_factor": 0.5}}}},
            "steps.train.retry.backoff_factor: expected a number >= 1",
        ),
        (
            {"steps": {"train": {"retry": {"num_retries": 1, "every": 2}}}},
            "steps.train.retry: unknown key 'every'",
        ),
    ],
)
def test_bad_sections_name_the_file_and_the_key(data, message):
    with pytest.raises(UserError) as err:
        profile.from_dict({"image": "x", **data}, "profile my.yaml")
    text = str(err.value)
    assert text.startswith("profile my.yaml: ") and message in text and "\n" not in text
    assert "detector" not in text


def test_volumes_and_retry_are_built():
    prof = profile.from_dict(
        {
            "image": "x",
            "volumes": {"work": {"pvc": "w", "mount_path": "/mnt/work"}},
            "steps": {
                "train": {"volumes": ["work"], "retry": {"num_retries": 2, "backoff_factor": 3}}
            },
        }
    )
    assert prof.volumes["work"] == profile.Volume(pvc="w", mount_path="/mnt/work")
    assert prof.step("train").retry == profile.Retry(num_retries=2, backoff_factor=3.0)
    assert isinstance(prof.step("train").retry.backoff_factor, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"secrets": {"s3": {"secret": "creds"}}}, "secrets.s3: missing key 'env'"),
        ({"secrets": {"s3": {"secret": "creds", "env": {"1X": "k"}}}}, "invalid value '1X'"),
        ({"steps": {"train": {"node_selector": ["pool"]}}}, "node_selector: expected a mapping"),
        ({"steps": {"train": {"tolerations": [{"operator": "Exists"}]}}}, "missing key 'key'"),
        (
            {"steps": {"train": {"tolerations": [{"key": "a", "toleration_seconds": 1.5}]}}},
            "an integer",
        ),
        ({"steps": {"train": {"volumes": "work"}}}, "steps.train.volumes: expected a list"),
    ],
)
def test_bad_optional_fields_and_maps_name_the_key(data, message):
    with pytest.raises(UserError) as err:
        profile.from_dict({"image": "x", **data}, "profile my.yaml")
    text = str(err.value)
    assert text.startswith("profile my.yaml: ") and message in text and "\n" not in text


def test_loose_yaml_is_read_as_kubernetes_means_it():
    prof = profile.from_dict(
        {
            "image": "x",
            "pipeline_root": "",
            "volumes": None,
            "steps": {
                "push": None,
                "train": {
                    "cpu_request": 2,
                    "memory_limit": "8Gi",
                    "node_selector": {"pool": "gpu"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                    "retry": None,
                },
            },
        }
    )
    assert prof.pipeline_root is None and prof.volumes == {}
    assert prof.step("push") == profile.StepSettings()
    train = prof.step("train")
    assert (train.cpu_request, train.memory_limit, train.retry) == ("2", "8Gi", None)
    assert train.node_selector == {"pool": "gpu"}
    assert train.tolerations == (profile.Toleration(key="nvidia.com/gpu", operator="Exists"),)
