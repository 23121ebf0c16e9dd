"""``nasdet serving-manifest``: the KServe InferenceService of the pushed versions, from a profile.

The cluster profile's ``serving`` section (namespace, service account, TF Serving's image tag,
resources, placement, replicas) and its volumes (a serving root under a volume's mount path is
read through that PVC) become the options of :mod:`components.serve.manifest`. The push step
gets the same options at run time in the environment variable ``NASDET_INFERENCE_SERVICE``
(set on its task by ``pipelines.profile_tasks``, with the volumes the step mounts) and writes
them as ``inferenceservice.yaml`` beside the versions.

``nasdet serving-manifest [--profile FILE] [--serving-root ROOT] [--model-name NAME] [--name NAME]
[--namespace NS] [-o FILE]`` prints or writes the YAML. Imports neither TensorFlow nor KFP.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from components import files
from components.cli_args import StepArgumentParser, run_main
from components.errors import UserError
from components.serve import manifest
from pipelines import parameters
from pipelines import profile as profile_lib

ENV = "NASDET_INFERENCE_SERVICE"


def _toleration(t: profile_lib.Toleration) -> dict[str, Any]:
    """A profile toleration in Kubernetes form."""
    fields = {
        "key": t.key,
        "operator": t.operator,
        "value": t.value,
        "effect": t.effect,
        "tolerationSeconds": t.toleration_seconds,
    }
    return {k: v for k, v in fields.items() if v is not None}


def serving_options(
    profile: profile_lib.Profile,
    volumes: Iterable[str] | None = None,
    namespace: str | None = None,
) -> manifest.ServingOptions:
    """The InferenceService options of ``profile``: its ``serving`` section, with the PVCs of
    ``volumes`` (names of the profile's volumes; None: all of them) by mount path, and
    ``namespace`` in place of the section's when given."""
    s = profile.serving
    names = profile.volumes if volumes is None else volumes
    return manifest.ServingOptions(
        claims={profile.volumes[n].mount_path: profile.volumes[n].pvc for n in names},
        namespace=namespace or s.namespace,
        service_account=s.service_account,
        runtime_version=s.runtime_version,
        cpu_request=s.cpu_request,
        cpu_limit=s.cpu_limit,
        memory_request=s.memory_request,
        memory_limit=s.memory_limit,
        accelerator_type=s.accelerator_type,
        accelerator_count=s.accelerator_count,
        node_selector=dict(s.node_selector),
        tolerations=tuple(_toleration(t) for t in s.tolerations),
        min_replicas=s.min_replicas,
        max_replicas=s.max_replicas,
    )


def push_environment(profile: profile_lib.Profile, step: str = "push") -> dict[str, str]:
    """The environment variable that hands the push step its InferenceService options."""
    return {ENV: serving_options(profile, profile.step(step).volumes).to_json()}


def options_from_environment(
    environ: Mapping[str, str] | None = None,
) -> manifest.ServingOptions | None:
    """The options :func:`push_environment` set (None when unset: the defaults apply)."""
    text = (os.environ if environ is None else environ).get(ENV)
    return manifest.ServingOptions.from_json(text) if text else None


def build(
    profile: profile_lib.Profile,
    serving_root: str,
    model_name: str,
    name: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The InferenceService serving ``<serving_root>/<model_name>`` under ``profile``.

    ``name`` defaults to one made of ``model_name``. UserError on a bad name, namespace or model
    name, and on a local serving root under none of the profile's volumes.
    """
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise UserError(f"invalid model name {model_name!r}")
    if namespace is not None:
        manifest.check_namespace(namespace, "--namespace")
    name = manifest.check_name(name, "--name") if name else manifest.default_name(model_name)
    options = serving_options(profile, namespace=namespace)
    storage = manifest.storage_uri(serving_root, model_name, options.claims)
    if storage is None:
        mounts = ", ".join(f"{v.mount_path} ({v.pvc})" for v in profile.volumes.values())
        raise UserError(
            f"the serving root {serving_root} is on none of the profile's volumes "
            f"({mounts or 'it has none'}): KServe reads the versions from a PersistentVolumeClaim "
            "or a gs:// / s3:// URI"
        )
    return manifest.inference_service(name, storage, options)


def _parser() -> StepArgumentParser:
    d = parameters.DEFAULTS
    parser = StepArgumentParser(
        prog="nasdet serving-manifest",
        description="Write the KServe InferenceService (serving.kserve.io/v1beta1, TF Serving "
        "runtime) that serves the versions pushed under SERVING_ROOT/MODEL_NAME, with the "
        "resources and placement of the profile's serving section.",
    )
    parser.add_argument(
        "--profile", help="cluster profile YAML (default: pipelines/profiles/default.yaml)"
    )
    parser.add_argument(
        "--serving-root",
        default=d["serving_root"],
        help=f"a path on one of the profile's volumes, or a gs:// / s3:// URI "
        f"(default {d['serving_root']})",
    )
    parser.add_argument("--model-name", default=d["model_name"], help=f"default {d['model_name']}")
    parser.add_argument("--name", help="the InferenceService's name (default: the model name)")
    parser.add_argument("--namespace", help="its namespace (default: the profile's, else none)")
    parser.add_argument("-o", "--output", default="-", help="the YAML file (default: stdout)")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    profile = profile_lib.load(args.profile)
    service = build(profile, args.serving_root, args.model_name, args.name, args.namespace)
    text = manifest.to_yaml(service)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        files.write_atomically(args.output, text)
    except OSError as err:
        raise UserError(f"cannot write {args.output}: {err.strerror or err}") from None
    print(f"wrote the InferenceService {service['metadata']['name']!r} to {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``nasdet serving-manifest``: 0 on success, 2 with ``error: ...`` on bad input."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
