"""Roll back: make an earlier pushed version the one served, logged and reversible.

TF Serving (and KServe's TF Serving runtime) serves the highest version number under the model
folder. A rollback therefore re-publishes the chosen earlier version as the next number, with
the same atomic publish as a push, instead of deleting the newer versions or pinning a number in
a server config: every server and poller keeps the rule "highest = live" without a config
change, no version is lost, and the lineage is in the new version's ``push.json``
(``republished_from``: the version copied, ``rolled_back_from``: the one that was live). To
undo, roll back to the version that was rolled back from (``--to``).

Without ``--to`` the target is the newest version below the live one that holds another model
(another SavedModel fingerprint) and that no earlier rollback turned away from.
"""

from __future__ import annotations

import datetime
import json

from components import files
from components.artifacts import serving
from components.artifacts.model import ModelLocation, model_fingerprint
from components.errors import UserError
from components.files import join
from components.push import model_card
from components.push.push import publish_version


def _record(root: str, version: int) -> dict:
    path = join(root, str(version), serving.PUSH_FILE)
    try:
        return json.loads(files.read_text(path)) if files.is_file(path) else {}
    except ValueError:
        return {}


def _servable(root: str, version: int) -> bool:
    from components.artifacts.model import SAVED_MODEL_PB

    return files.is_file(join(root, str(version), SAVED_MODEL_PB))


def choose_target(root: str, to: int | None) -> tuple[int, int]:
    """Return ``(live, target)`` version numbers; UserError when there is no valid target."""
    numbers = [v for v in serving.integer_versions(root) if _servable(root, v)]
    if not numbers:
        raise UserError(f"no pushed version under {root}")
    live = numbers[-1]
    if to is not None:
        if to not in numbers:
            raise UserError(f"version {to} is not a pushed version under {root} ({numbers})")
        if to == live:
            raise UserError(f"version {to} is already the one served")
        return live, to
    live_fp = model_fingerprint(join(root, str(live)))
    turned_away = {_record(root, v).get("rolled_back_from") for v in numbers}
    for version in reversed(numbers[:-1]):
        if version in turned_away:
            continue
        if model_fingerprint(join(root, str(version))) != live_fp:
            return live, version
    raise UserError(
        f"no earlier version of another model to roll back to under {root} (live: {live}); "
        "name one with --to"
    )


def run(serving_root: str, model_name: str, to: int | None = None) -> dict:
    """Re-publish version ``to`` (default: see the module docstring) as the newest version.

    Returns ``{"version", "path", "republished_from", "rolled_back_from", "model_card",
    "pruned"}``. Raises UserError when nothing is pushed or the target is not valid.
    """
    root = serving.model_root(serving_root, model_name)
    live, target = choose_target(root, to)
    source = join(root, str(target))
    record = {
        **_record(root, target),
        "model_name": model_name,
        "pushed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "republished_from": target,
        "rolled_back_from": live,
    }
    card_path = join(source, model_card.CARD_JSON)
    card = json.loads(files.read_text(card_path)) if files.is_file(card_path) else None

    def write_records(directory: str, rec: dict) -> None:
        serving.write_push_record(directory, rec)
        if card is not None:
            note = f"Re-published from version {target}, rolling back version {live}."
            updated = {**card, "version": rec.get("version"), "pushed_at": rec["pushed_at"]}
            updated["gate"] = {**card.get("gate", {})}
            updated["gate"]["reasons"] = [*card.get("gate", {}).get("reasons", []), note]
            model_card.write(directory, updated)

    result = publish_version(ModelLocation(source, source, "version"), root, record, write_records)
    return {**result, "republished_from": target, "rolled_back_from": live}
