"""The KServe model class of ``nasdet serve``: our SavedModel behind KServe's model server.

One :class:`DetectorModel` serves one model reference: a Model artifact, a pushed version
folder, or ``production`` (the newest version under ``<serving_root>/<model_name>``). With
``production`` a watcher thread looks for a newer version every ``poll_seconds``; it loads it,
replays its TF Serving warm-up requests (``assets.extra``) and only then swaps it in, as TF
Serving does. Requests already running finish on the version they started with; a version
that fails to load or to answer its warm-up is skipped (logged) and the old one keeps serving.

The TensorFlow calls run in the event loop's thread pool, so requests overlap. The loaded
model is not pickled (KServe pickles models for its worker processes): an unpickled copy loads
the SavedModel itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import uuid

import kserve
import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from components import files
from components.artifacts.model import ModelLocation, read_label_names
from components.artifacts.serving import newest_version
from components.files import join
from components.push import warmup
from components.serve import codec

logger = logging.getLogger("nasdet.serve")


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A loaded model: its folder, version (None for a Model artifact), signatures, names."""

    path: str
    version: int | None
    signatures: dict
    names: dict[int, str]
    module: object  # keeps the loaded SavedModel (and its variables) alive

    def run(self, batch: codec.Batch) -> dict[str, np.ndarray]:
        """The model's outputs for ``batch`` (numpy, batched in request order)."""
        import tensorflow as tf

        if batch.encoded is not None:
            out = self.signatures["serving_bytes"](images=tf.constant(batch.encoded, tf.string))
            return {k: v.numpy() for k, v in out.items()}
        shapes = {p.shape for p in batch.pixels}
        serve = self.signatures["serving_default"]
        if len(shapes) == 1:  # one size: one batch
            out = serve(images=tf.constant(np.stack(batch.pixels), tf.uint8))
            return {k: v.numpy() for k, v in out.items()}
        parts = [serve(images=tf.constant(p[None], tf.uint8)) for p in batch.pixels]
        width = max(int(p["detection_scores"].shape[1]) for p in parts)
        merged = {}
        for key in parts[0]:
            arrays = [p[key].numpy() for p in parts]
            if arrays[0].ndim >= 2:  # pad the detection axis to the widest
                arrays = [
                    np.pad(a, [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2))
                    for a in arrays
                ]
            merged[key] = np.concatenate(arrays)
        return merged


def load(location: ModelLocation) -> Loaded:
    """Load the SavedModel at ``location`` and replay its warm-up requests when it has them."""
    import tensorflow as tf

    module = tf.saved_model.load(location.saved_model_dir)
    signatures = dict(module.signatures)
    for needed in ("serving_default", "serving_bytes"):
        if needed not in signatures:
            raise ValueError(f"{location.saved_model_dir} has no {needed} signature")
    requests = join(location.saved_model_dir, warmup.WARMUP_PATH)
    if files.is_file(requests):
        for inputs in warmup.read_requests(requests):
            signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
    name = files.basename(location.root)
    version = int(name) if location.layout == "version" and name.isdigit() else None
    names = read_label_names(location) or {}
    return Loaded(location.root, version, signatures, names, module)


class DetectorModel(kserve.Model):
    """A KServe model answering v1 ``:predict`` and v2 ``/infer`` requests with detections."""

    def __init__(
        self,
        name: str,
        location: ModelLocation | None = None,
        serving_root: str | None = None,
        model_name: str | None = None,
        poll_seconds: float = 2.0,
    ):
        super().__init__(name)
        self.location = location
        self.serving_root = serving_root
        self.model_name = model_name
        self.poll_seconds = poll_seconds
        self._current: Loaded | None = None
        self._stop = threading.Event()

    @property
    def follows_production(self) -> bool:
        return self.location is None

    def load(self) -> bool:
        location = self.location or newest_version(self.serving_root, self.model_name)
        if location is None:
            raise ValueError(f"no version of {self.model_name!r} under {self.serving_root}")
        self._current = load(location)
        self.ready = True
        if self.follows_production:
            threading.Thread(target=self._watch, name="nasdet-version-watch", daemon=True).start()
        return self.ready

    @property
    def version(self) -> int | None:
        return self._current.version if self._current else None

    def _watch(self) -> None:
        failed: set[str] = set()
        while not self._stop.wait(self.poll_seconds):
            try:
                newest = newest_version(self.serving_root, self.model_name)
            except OSError as err:
                logger.warning("cannot list %s: %s", self.serving_root, err)
                continue
            if newest is None or newest.root == self._current.path or newest.root in failed:
                continue
            try:
                loaded = load(newest)
            except Exception as err:  # noqa: BLE001 - keep serving the version we have
                logger.error("not switching to %s: %s", newest.root, err)
                failed.add(newest.root)
                continue
            previous, self._current = self._current, loaded
            logger.info("now serving %s (was %s)", loaded.path, previous.path)

    def stop(self) -> None:
        self._stop.set()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_current"] = None
        state["_stop"] = None
        state["ready"] = False
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._stop = threading.Event()
        self.load()

    async def predict(self, payload, headers=None, response_headers=None):
        v2 = isinstance(payload, InferRequest)
        try:
            batch = codec.parse_v2(payload) if v2 else codec.parse_v1(payload)
        except codec.BadRequest as err:
            raise InvalidInput(str(err)) from None
        loaded = self._current  # this request's version, even if a newer one is swapped in
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(None, loaded.run, batch)
        except Exception as err:  # noqa: BLE001 - re-raised unless the input was bad
            if type(err).__name__ == "InvalidArgumentError":  # e.g. bytes that are no image
                lines = [s.strip() for s in str(err).splitlines() if s.strip()]
                raise InvalidInput(f"the model refused the input: {lines[-1]}") from None
            raise
        per_image = codec.detections(outputs, loaded.names)
        version = None if loaded.version is None else str(loaded.version)
        if not v2:
            return {**codec.v1_response(per_image), "model_version": version}
        infer_outputs = []
        for out_name, datatype, array in codec.v2_outputs(per_image):
            output = InferOutput(name=out_name, shape=list(array.shape), datatype=datatype)
            output.set_data_from_numpy(array, binary_data=False)
            infer_outputs.append(output)
        return InferResponse(
            response_id=payload.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=version,
            infer_outputs=infer_outputs,
        )
