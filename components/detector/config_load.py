"""Where a detector config comes from: a preset name or an architecture JSON file (or folder).

``get_preset("tiny")`` merges a preset of ``presets.py`` over the defaults;
``load_architecture(value)`` accepts a preset name, a JSON file or a folder holding
``architecture.json`` (a step's Architecture artifact) or ``detector_config.json`` (a Model
artifact or a pushed version), as paths or URIs (``components.files``). Errors are
``UserError`` naming the value.
"""

from __future__ import annotations

import os

from components import files
from components.artifacts.architecture import ARCHITECTURE_FILE
from components.artifacts.model import CONFIG_FILE as MODEL_CONFIG_FILE
from components.detector import presets
from components.detector.config import DetectorConfig, from_dict
from components.detector.config_parse import merge
from components.errors import UserError


def get_preset(name: str) -> DetectorConfig:
    """Return the preset ``name`` (``tiny``, ``tiny-effnet``, ``d0`` .. ``d7``); UserError if unknown."""
    if name not in presets.PRESETS:
        raise UserError(f"unknown preset {name!r} (known: {', '.join(presets.preset_names())})")
    return from_dict(merge({"name": name}, presets.PRESETS[name]))


def load_architecture(file_or_preset: str | os.PathLike[str]) -> DetectorConfig:
    """Return the config named by a preset name or stored in a JSON file (``architecture.json``).

    A path that exists is read as JSON; otherwise the value must be a preset name. UserError when
    neither (the message names the value).
    """
    text = os.fspath(file_or_preset)
    if text in presets.PRESETS and not os.path.isfile(text):
        return get_preset(text)
    if files.is_dir(text):
        for name in (ARCHITECTURE_FILE, MODEL_CONFIG_FILE):
            candidate = files.join(text, name)
            if files.is_file(candidate):
                return DetectorConfig.load(candidate)
        raise UserError(
            f"{text!r} is a directory without {ARCHITECTURE_FILE} (an Architecture artifact) "
            f"or {MODEL_CONFIG_FILE} (a Model artifact or a pushed version)"
        )
    if files.is_file(text):
        return DetectorConfig.load(text)
    raise UserError(
        f"{text!r} is neither a config file nor a preset (presets: {', '.join(presets.preset_names())})"
    )
