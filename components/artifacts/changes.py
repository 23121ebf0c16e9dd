"""The Changes artifact (check-changes writes it; push records its ``trained_on``).

Files::

    changes.json   {"proceed": bool, "reason": str, "changed": [...], "production": {...} | null,
                    "trained_on": {"examples", "settings", "code", "parameters"}}
    report.md      the step's page: the decision, its reason, this run against production

``trained_on`` says what a model trained by this run comes from: the Examples' content digest
(``examples.content_digest``), the digest of the code, and the parameters that shape the model,
with ``settings`` the digest over the code digest and those parameters. Push copies it into the
new version's ``push.json`` (``serving.TRAINED_ON``), where the next run's check reads it.
Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import json

from components import files
from components.errors import UserError
from components.files import join

CHANGES_FILE = "changes.json"
REPORT_FILE = "report.md"
TRAINED_ON_KEYS = ("examples", "settings", "code", "parameters")


def write(directory: str, decision: dict, report: str) -> None:
    """Write ``changes.json`` (``decision``) and ``report.md`` into ``directory``."""
    files.make_dirs(directory)
    files.write_atomically(join(directory, REPORT_FILE), report)
    files.write_atomically(
        join(directory, CHANGES_FILE), json.dumps(decision, indent=2, sort_keys=True) + "\n"
    )


def read(path: str) -> dict:
    """The decision in ``path`` (a ``changes.json`` or the Changes folder holding it).

    Raises UserError naming the file when it is missing, not JSON, or has no complete
    ``trained_on``.
    """
    if not path.endswith(".json"):
        path = join(path, CHANGES_FILE)
    try:
        data = json.loads(files.read_text(path))
    except FileNotFoundError:
        raise UserError(f"{path} not found (not a Changes artifact)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from None
    trained_on = data.get("trained_on") if isinstance(data, dict) else None
    if not isinstance(trained_on, dict) or any(k not in trained_on for k in TRAINED_ON_KEYS):
        raise UserError(f"{path}: no complete trained_on ({', '.join(TRAINED_ON_KEYS)})")
    return data
