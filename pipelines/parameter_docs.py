"""The pipeline parameters as documentation: the pipeline function's docstring (KFP shows its
``Args:`` as the parameter descriptions in the UI) and the README's parameter table."""

from __future__ import annotations

from pipelines.parameters import PARAMETERS


def docstring(summary: str) -> str:
    """A Google-style docstring: ``summary`` then an ``Args:`` entry per parameter.

    KFP reads the descriptions of pipeline parameters from the pipeline function's docstring.
    """
    lines = [summary, "", "Args:"]
    lines += [f"    {p.name}: {p.description}" for p in PARAMETERS]
    return "\n".join(lines) + "\n"


TABLE_START = (
    "<!-- parameter table: generated from pipelines/parameters.py (a test keeps it in sync) -->"
)
TABLE_END = "<!-- end of parameter table -->"


def replace_table(text: str) -> str:
    """``text`` (the README) with the part between the table markers replaced by the table."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        return text
    return text[: start + len(TABLE_START)] + "\n" + markdown_table() + text[end:]


def markdown_table() -> str:
    """The parameter table of the README (name, type, default, description), one row each."""
    rows = ["| Parameter | Type | Default | Description |", "|---|---|---|---|"]
    for p in PARAMETERS:
        default = f"`{p.default}`" if p.default != "" else '`""`'
        rows.append(f"| `{p.name}` | {p.type.__name__} | {default} | {p.description} |")
    return "\n".join(rows) + "\n"
