"""Threads of a training process on the CPU: one intra-op and one inter-op thread by default.

A small detector's training step is many small operations, and TensorFlow's default of one
intra-op thread per core spends CPU time handing them out. Measured on a 2-core machine
(``tiny`` at 128 px, batch 8, one training step): 50 ms of CPU with one thread against 88 ms
with the default, and no longer in wall time, so a training budget of CPU seconds buys about
1.7x the steps. On GPUs the setting is left alone (the CPU only feeds them).

TensorFlow fixes its thread pools when its runtime starts: :func:`use_cpu_threads` must run
before the process executes its first operation; later it keeps what runs and says so.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DEFAULT_CPU_THREADS = 1


def use_cpu_threads(threads: int | None) -> int | None:
    """Run TensorFlow's CPU operations on ``threads`` threads (None / 0: TensorFlow's default).

    Returns the number set, or None when nothing was changed (default asked for, a GPU is
    visible, or the runtime had already started).
    """
    if not threads or threads < 0:
        return None
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None
    if (
        tf.config.threading.get_intra_op_parallelism_threads() == threads
        and tf.config.threading.get_inter_op_parallelism_threads() == threads
    ):
        return threads
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        log.warning(
            "cpu threads: TensorFlow had started in this process; it keeps its thread pools "
            "(set TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS before it starts)"
        )
        return None
    return threads
