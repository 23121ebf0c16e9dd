"""Training-free (zero-cost) scores of a detector: their one registry and their computations.

A score rates an untrained network from its weights and one minibatch, in about the time of
a few forward passes; the search's screening stage (``components.search.screening``) ranks
sampled architectures with one, so only the best ones are trained. Higher is better for
every score here. Adding a score is one function decorated with ``@register_score("name")``:
``score(detector, images) -> float``, ``images`` float32 [B, S, S, 3] in 0..255 (what the
detector takes), the detector left as it was given.

- ``params``: the parameter count, the baseline any other score has to beat (many zero-cost
  scores rank no better than it: Li et al., ZiCo, ICLR 2023).
- ``naswot``: Mellor et al. 2021, "Neural Architecture Search without Training": the
  log-determinant of the kernel ``K[i, j]`` = the number of rectifier units on which images
  ``i`` and ``j`` agree (both active or both inactive), over the minibatch. The units are
  every ReLU and swish activation (swish is active where ReLU is: x > 0); inference mode;
  ``K`` plus the identity, so images no unit tells apart do not make every score -inf.
- ``synflow``: Tanaka et al. 2020 as used for NAS by Abdelfattah et al., ICLR 2021: with every
  weight replaced by its absolute value and an input of ones, ``sum |theta * dR/dtheta|``
  over the trainable weights, R the sum of the outputs; reported as its natural log. It is
  data-free: only the minibatch's shape is used (the value 255 is the ones after the
  detector's own 0..255 -> -1..1 rescaling).

Keras and TensorFlow are imported when a score is computed, not when this module is imported
(command lines import it for the names).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from components.errors import UserError

Score = Callable[[Any, Any], float]  # (detector, images) -> float, higher is better

_SCORES: dict[str, Score] = {}


def register_score(name: str) -> Callable[[Score], Score]:
    """Return a decorator registering ``score(detector, images)`` as zero-cost score ``name``.

    Names are unique: registering a known name again is a ``ValueError`` (a programming error).
    """

    def _register(score: Score) -> Score:
        if name in _SCORES:
            raise ValueError(f"zero-cost score {name!r} is already registered")
        _SCORES[name] = score
        return score

    return _register


def score_names() -> tuple[str, ...]:
    """Return the names of every registered score, in registration order."""
    return tuple(_SCORES)


def check_name(name: str) -> str:
    """Return ``name`` when it is a registered score; UserError listing the known ones."""
    if name not in _SCORES:
        raise UserError(f"unknown zero-cost score {name!r} (known: {', '.join(_SCORES)})")
    return name


def compute(name: str, detector, images) -> float:
    """Return score ``name`` of ``detector`` on the minibatch ``images`` (UserError if unknown)."""
    return float(_SCORES[check_name(name)](detector, images))


@register_score("params")
def params(detector, images) -> float:
    """The number of parameters (trainable and not)."""
    return float(detector.count_params())


def _rectifiers(model):
    """Yield every ReLU / swish ``Activation`` layer of ``model``, nested models included."""
    from keras import layers

    for layer in model.layers:
        if hasattr(layer, "layers") and not isinstance(layer, layers.Activation):
            yield from _rectifiers(layer)
        elif isinstance(layer, layers.Activation):
            name = getattr(layer.activation, "__name__", "")
            if name in ("relu", "swish", "silu"):
                yield layer


@register_score("naswot")
def naswot(detector, images) -> float:
    """``log |det K|`` of the binary-code kernel of the rectifier units over ``images``.

    ``K + I``: finite when two images are not told apart (the data's near-duplicates).
    """
    import numpy as np
    import tensorflow as tf

    batch = int(images.shape[0])
    kernel = np.zeros((batch, batch), np.float64)
    hooked = list(_rectifiers(detector))
    if not hooked:
        raise ValueError(f"{detector.name} has no ReLU or swish activation: naswot needs one")
    originals = [layer.activation for layer in hooked]

    def recording(activation):
        def record(x):
            code = tf.reshape(tf.cast(x > 0, tf.float32), (batch, -1))
            agree = tf.matmul(code, code, transpose_b=True)
            agree += tf.matmul(1.0 - code, 1.0 - code, transpose_b=True)
            kernel[...] += agree.numpy()
            return activation(x)

        return record

    try:
        for layer, original in zip(hooked, originals, strict=True):
            layer.activation = recording(original)
        detector(tf.constant(images, tf.float32), training=False)
    finally:
        for layer, original in zip(hooked, originals, strict=True):
            layer.activation = original
    # Plus the identity: two images no unit tells apart (near-duplicates in a dataset) make K
    # singular and the score -inf for every network; one more agreement on the diagonal keeps
    # the score finite and comparable (the other eigenvalues are in the tens of thousands).
    sign, logdet = np.linalg.slogdet(kernel + np.eye(batch))
    return float(logdet) if sign > 0 else -math.inf


@register_score("synflow")
def synflow(detector, images) -> float:
    """``log sum |theta * dR/dtheta|`` with ``|theta|`` weights and an all-ones input.

    The input is a batch of two identical images and R is halved: the same number as for one
    image (batch norm runs in inference mode), while TensorFlow 2.21's oneDNN convolution
    gradient crashed the process on some of these networks at batch 1.
    """
    import numpy as np
    import tensorflow as tf

    saved = [w.numpy() for w in detector.weights]
    ones = tf.fill((2, *images.shape[1:]), tf.constant(255.0, tf.float32))
    try:
        for w, value in zip(detector.weights, saved, strict=True):
            w.assign(np.abs(value))
        trainable = detector.trainable_weights
        with tf.GradientTape() as tape:
            outputs = tf.nest.flatten(detector(ones, training=False))
            total = 0.5 * tf.add_n([tf.reduce_sum(tf.cast(o, tf.float64)) for o in outputs])
        grads = tape.gradient(total, trainable)
        flow = sum(
            float(tf.reduce_sum(tf.abs(tf.cast(g, tf.float64) * tf.cast(w, tf.float64))))
            for g, w in zip(grads, trainable, strict=True)
            if g is not None
        )
    finally:
        for w, value in zip(detector.weights, saved, strict=True):
            w.assign(value)
    return math.log(flow) if flow > 0 else -math.inf
