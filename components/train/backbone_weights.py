"""Pretrained backbone weights for the train step: ``none``, ``imagenet`` or a weights file.

A file is a Keras weights file (``.weights.h5`` or ``.h5``) of the configured EfficientNet
without its classification top, on a local path, a mounted volume or an object-store URI
(``gs://``, ``s3://``: copied to a local file first). ``imagenet`` downloads Keras' ImageNet
weights, which needs the internet: on an air-gapped cluster, put the file on a volume and name
its path. Every problem is a one-line ``UserError``.
"""

from __future__ import annotations

import os

from components import files
from components.detector import backbones
from components.errors import UserError

NONE = "none"
IMAGENET = "imagenet"


def with_backbone_weights(config, weights: str | None, scratch_dir: str):
    """``config`` with ``backbone.weights`` set to ``weights`` (a local path for a URI).

    ``None`` or ``""`` keeps the config's own. Raises UserError for a backbone registered
    without pretrained weights (the cell backbone) and for a file that does not exist.
    """
    if not weights:
        return config
    if weights == NONE:
        return config.with_overrides({"backbone.weights": NONE})
    if not backbones.get(config.backbone.kind).pretrained:
        with_weights = ", ".join(k for k in backbones.kinds() if backbones.get(k).pretrained)
        raise UserError(
            f"backbone_weights {weights!r}: the architecture {config.name!r} has a "
            f"{config.backbone.kind} backbone; pretrained weights exist only for {with_weights}"
        )
    if weights == IMAGENET:
        return config.with_overrides({"backbone.weights": IMAGENET})
    return config.with_overrides({"backbone.weights": _local_copy(weights, scratch_dir)})


def _local_copy(path: str, scratch_dir: str) -> str:
    if "://" not in path:
        if not os.path.isfile(path):
            raise UserError(f"backbone_weights: no such weights file {path!r}")
        return os.path.abspath(path)
    os.makedirs(scratch_dir, exist_ok=True)
    suffix = ".weights.h5" if path.endswith(".weights.h5") else os.path.splitext(path)[1]
    # A fixed name: the path is part of the training fingerprint, so a resumed run matches.
    local = os.path.join(scratch_dir, f"backbone{suffix or '.h5'}")
    try:
        present = files.is_file(path)
        if present:
            files.copy(path, local)
    except Exception as err:  # unknown scheme, credentials, permissions, network
        reason = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise UserError(f"backbone_weights: cannot read {path!r}: {reason}") from None
    if not present:
        raise UserError(f"backbone_weights: no such weights file {path!r}")
    return local
