"""The ingest pipeline never imports TensorFlow, in the driver or in multi-processing workers."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
import textwrap

from components.ingest import run

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import components.ingest.pipeline
    after_import = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
    from components.ingest import run
    summary = run(sys.argv[1], "voc", sys.argv[2], beam_args=sys.argv[3:])
    after_run = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
    print(json.dumps({"import": after_import, "run": after_run, "accepted": summary["images"]["accepted"]}))

    # In worker processes: run the real validation DoFn, then look at the worker's modules.
    import apache_beam as beam
    from components.data.readers import read_dataset
    from components.data.labels import build_label_map
    from components.ingest import running_mode
    from components.ingest.transforms import ValidateAndWriteShards

    def probe(element):
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        if loaded or "components.data.validate" not in sys.modules:
            raise RuntimeError(f"worker modules: {loaded}")
        return element

    dataset = read_dataset("voc", sys.argv[1])
    items = [("train", image) for image in dataset.images[:6]]
    label_map = build_label_map(dataset.classes)
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    with running_mode.make_pipeline(args) as p:
        out = p | beam.Create(items) | ValidateAndWriteShards(sys.argv[2] + "-probe", label_map, {"train": 4})
        _ = out["shards"] | beam.Map(probe)
    print("workers ok")
    """
)


def test_import_and_run_do_not_import_tensorflow(sample_dir, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(sample_dir / "annotations"),
            str(tmp_path / "out"),
            "--direct_running_mode=in_memory",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "workers ok"
    result = json.loads(lines[-2])
    assert result == {"import": [], "run": [], "accepted": 50}


def test_multi_processing_gives_identical_output(sample_dir, tmp_path):
    """Two worker processes write the same bytes as in_memory."""
    annotations = str(sample_dir / "annotations")
    run(annotations, "voc", str(tmp_path / "a"), beam_args=["--direct_running_mode=in_memory"])
    summary = run(
        annotations,
        "voc",
        str(tmp_path / "b"),
        beam_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    )
    assert "multi_processing, 2 worker(s)" in summary["runner"]
    for root, _, files in os.walk(tmp_path / "a"):
        for name in files:
            if name.endswith((".gz", ".json", ".jsonl")):
                a = os.path.join(root, name)
                assert filecmp.cmp(
                    a, a.replace(str(tmp_path / "a"), str(tmp_path / "b")), shallow=False
                )
