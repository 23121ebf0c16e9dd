"""Profile sections built with build_dataclass (volumes, retry): messages name file and key."""

from __future__ import annotations

import pytest

from components.errors import UserError
from pipelines import profile


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"volumes": {"data": {"pvc": "d"}}}, "volumes.data: missing key 'mount_path'"),
        ({"volumes": {"data": {"pvc": "d", "mount_path": "/m", "size": 1}}}, "volumes.data.size"),
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
            "steps.train.retry.every",
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
