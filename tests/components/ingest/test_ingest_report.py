"""The ingest report: Markdown always, the Pillow plot when it can be drawn."""

from __future__ import annotations

import json

from PIL import Image

from components.ingest import report, run


def test_report_plot_and_markdown(sample_dir, tmp_path):
    out = tmp_path / "examples"
    run(str(sample_dir / "annotations"), "voc", str(out))
    with Image.open(out / "report.png") as plot:
        assert plot.format == "PNG" and plot.size == (880, 380)
        # Two bar colours are drawn: the class bars and the box-size bars.
        colours = {colour for _, colour in plot.convert("RGB").getcolors(1 << 20)}
        assert (31, 119, 180) in colours and (255, 127, 14) in colours
    text = (out / "report.md").read_text()
    assert "![class histogram and box sizes](report.png)" in text
    assert "| 1 | raccoon |" in text
    assert "``" not in text  # an empty bar is an empty cell, not an empty code span
    assert "| 0-8 | 0 |  |" in text
    assert report._bar(1, 500) == "`#`"  # a single box still shows


def test_report_without_plot_when_pillow_cannot_draw(sample_dir, tmp_path, monkeypatch, caplog):
    out = tmp_path / "examples"
    run(str(sample_dir / "annotations"), "voc", str(out))
    stats = json.loads((out / "stats.json").read_text())

    def no_freetype(_stats):
        raise ImportError("The _imagingft C module is not installed")

    monkeypatch.setattr(report, "render_plot", no_freetype)
    again = tmp_path / "again"
    again.mkdir()
    paths = report.write_report(stats, str(again))
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["report.md"]
    assert "report.png" not in (again / "report.md").read_text()
    assert "no report plot" in caplog.text
