"""A cluster profile applied to the pipeline's KFP tasks (resources, scheduling, volumes, secrets)."""

from __future__ import annotations

from typing import Any

from pipelines.profile import Profile, duration_seconds
from pipelines.serving_manifest import push_environment


def apply_to_task(task: Any, profile: Profile, step: str) -> Any:
    """Apply ``profile``'s settings for ``step`` to the KFP ``task``; return the task.

    Uses ``set_accelerator_type/limit``, ``set_cpu_*``, ``set_memory_*``, ``set_env_variable``
    and ``kfp.kubernetes`` (node selector, tolerations, PVC mounts, secrets as env, image pull
    secrets). ``kfp.local`` ignores the Kubernetes settings, so local runs are unaffected.
    The push task also gets the profile's InferenceService options in its environment
    (``pipelines.serving_manifest.push_environment``), which it writes as
    ``inferenceservice.yaml`` beside the versions.
    """
    from kfp import kubernetes

    s = profile.step(step)
    if s.accelerator_type and s.accelerator_count:
        task.set_accelerator_type(s.accelerator_type)
        task.set_accelerator_limit(s.accelerator_count)
    if s.cpu_request:
        task.set_cpu_request(s.cpu_request)
    if s.cpu_limit:
        task.set_cpu_limit(s.cpu_limit)
    if s.memory_request:
        task.set_memory_request(s.memory_request)
    if s.memory_limit:
        task.set_memory_limit(s.memory_limit)
    env = dict(s.env)
    if step == "push":
        env.update(push_environment(profile, step))
    for key, value in sorted(env.items()):
        task.set_env_variable(key, value)
    for key, value in sorted(s.node_selector.items()):
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for t in s.tolerations:
        kubernetes.add_toleration(
            task,
            key=t.key,
            operator=t.operator,
            value=t.value,
            effect=t.effect,
            toleration_seconds=t.toleration_seconds,
        )
    for name in s.volumes:
        vol = profile.volumes[name]
        kubernetes.mount_pvc(task, pvc_name=vol.pvc, mount_path=vol.mount_path)
    for name in s.secrets:
        sec = profile.secrets[name]
        kubernetes.use_secret_as_env(
            task,
            secret_name=sec.secret,
            secret_key_to_env={key: env for env, key in sorted(sec.env.items())},
        )
    if profile.image_pull_secrets:
        kubernetes.set_image_pull_secrets(task, list(profile.image_pull_secrets))
    if s.retry is not None and s.retry.num_retries:
        task.set_retry(
            num_retries=s.retry.num_retries,
            backoff_duration=f"{duration_seconds(s.retry.backoff_duration)}s",
            backoff_factor=s.retry.backoff_factor,
            backoff_max_duration=f"{duration_seconds(s.retry.backoff_max_duration)}s",
        )
    return task
