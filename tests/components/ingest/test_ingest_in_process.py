"""The in-process engine: the same bytes as the Beam graph, and no Beam start-up for small inputs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from components.ingest import run

COMPARED = (".gz", "stats.json", "quarantine.jsonl", "labels.json", "report.md", "report.png")


def _assert_same_artifact(helpers, a, b) -> None:
    files_a, files_b = helpers.artifact_files(a), helpers.artifact_files(b)
    assert sorted(files_a) == sorted(files_b)
    assert any(name.endswith(".gz") for name in files_a)
    for name, data in files_a.items():
        assert name.endswith(COMPARED), name
        assert data == files_b[name], name


def test_sample_in_process_equals_beam(sample_dir, tmp_path, helpers):
    annotations = str(sample_dir / "annotations")
    fast = run(annotations, "voc", str(tmp_path / "in_process"))
    beam = run(annotations, "voc", str(tmp_path / "beam"), run_in_process=False)
    assert fast["runner"].startswith("in process, no Beam")
    assert beam["runner"].startswith("DirectRunner in_memory")
    _assert_same_artifact(helpers, tmp_path / "in_process", tmp_path / "beam")


@pytest.mark.parametrize("builder", ["make_coco_corpus", "make_voc_corpus"])
def test_broken_corpus_in_process_equals_beam(broken_corpus, tmp_path, builder, helpers):
    """Quarantine records, stats and shards agree, including every bad-input case."""
    corpus = getattr(broken_corpus, builder)(tmp_path / "in")
    outputs = {}
    for name, in_process in (("in_process", True), ("beam", False)):
        outputs[name] = tmp_path / name
        run(
            corpus.input_path,
            corpus.fmt,
            str(outputs[name]),
            images_dir=corpus.images_dir,
            classes_file=corpus.classes_file,
            run_in_process=in_process,
        )
    _assert_same_artifact(helpers, outputs["in_process"], outputs["beam"])
    lines = (outputs["in_process"] / "quarantine.jsonl").read_text().splitlines()
    got = sorted(
        (q["kind"], q["reason"], q["image_id"], q["boxes"]) for q in map(json.loads, lines)
    )
    assert got == corpus.expected


SCRIPT = textwrap.dedent(
    """
    import json, sys
    from components.ingest.cli import main
    status = main(["--input", sys.argv[1], "--format", "voc", "--output", sys.argv[2]])
    heavy = ("apache_beam", "tensorflow", "keras", "matplotlib")
    print(json.dumps({
        "status": status,
        "loaded": sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}),
    }))
    """
)


def test_small_local_ingest_loads_no_beam(sample_dir, tmp_path):
    """The default run on the bundled sample never imports Beam, TensorFlow or matplotlib."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(sample_dir / "annotations"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"status": 0, "loaded": []}
    assert "in process, no Beam" in proc.stderr
    assert (tmp_path / "out" / "report.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
