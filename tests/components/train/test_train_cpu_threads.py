"""The CPU thread setting of the train step: set before TensorFlow starts, kept after."""

from __future__ import annotations

import subprocess
import sys

from components.train.cpu_threads import use_cpu_threads

_PROBE = """
import sys
from components.train.cpu_threads import use_cpu_threads
print(use_cpu_threads(int(sys.argv[1])))
import tensorflow as tf
tf.constant(1.0) + 1.0  # the runtime starts here
print(tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads())
print(use_cpu_threads(3))
"""


def _probe(threads: int) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(threads)],
        capture_output=True,
        text=True,
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PATH": ""},
    )
    return result.stdout.split("\n")[:3]


def test_one_thread_is_set_before_tensorflow_starts_and_kept_after():
    # Set: TensorFlow runs on one intra-op and one inter-op thread; once it has started, a
    # change is refused (None) and the pools stay as they are.
    assert _probe(1) == ["1", "1 1", "None"]


def test_zero_leaves_tensorflow_its_default():
    assert _probe(0) == ["None", "0 0", "None"]


def test_negative_or_none_change_nothing():
    assert use_cpu_threads(None) is None and use_cpu_threads(-2) is None
