"""ATSS assignment: a NumPy reference, a positive for every box, no ignore band, static shapes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.detector import anchors as anchors_lib
from components.detector import assign_atss, box_coding, targets
from components.detector.config_load import get_preset
from components.errors import UserError

CFG = get_preset("tiny").replace(num_classes=3).with_overrides({"anchors.assigner": "atss"})
PLAIN = CFG.with_overrides({"anchors.force_match": False})
ANCHORS = anchors_lib.generate_anchors(CFG)
S = CFG.image_size


def _iou(anchors: np.ndarray, box: np.ndarray) -> np.ndarray:
    inter_h = np.clip(
        np.minimum(anchors[:, 2], box[2]) - np.maximum(anchors[:, 0], box[0]), 0, None
    )
    inter_w = np.clip(
        np.minimum(anchors[:, 3], box[3]) - np.maximum(anchors[:, 1], box[1]), 0, None
    )
    inter = inter_h * inter_w
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    area_b = (box[2] - box[0]) * (box[3] - box[1])
    return inter / (area_a + area_b - inter)


def _reference(boxes: np.ndarray, classes: np.ndarray, config) -> np.ndarray:
    """Plain ATSS (no forced matches) for one image, one box at a time: class targets [A]."""
    per = config.anchors.per_location
    centres = (ANCHORS[:, :2] + ANCHORS[:, 2:]) / 2
    best = np.zeros(len(ANCHORS))
    out = np.zeros(len(ANCHORS), np.int64)
    for box, cls in zip(boxes * S, classes, strict=True):
        if cls <= 0:
            continue
        iou = _iou(ANCHORS, box)
        centre = (box[:2] + box[2:]) / 2
        candidates, start = [], 0
        for size in assign_atss.level_sizes(config):
            distance = np.sum((centres[start : start + size : per] - centre) ** 2, axis=1)
            nearest = np.argsort(distance, kind="stable")[: config.anchors.atss_top_k]
            candidates += [start + n * per + j for n in nearest for j in range(per)]
            start += size
        candidates = np.asarray(candidates)
        threshold = iou[candidates].mean() + iou[candidates].std(ddof=1)
        c = centres[candidates]
        inside = np.min(
            np.stack([c[:, 0] - box[0], c[:, 1] - box[1], box[2] - c[:, 0], box[3] - c[:, 1]]), 0
        )
        for a in candidates[(iou[candidates] >= threshold) & (inside > 0.01)]:
            if iou[a] > best[a]:
                best[a], out[a] = iou[a], cls
    return out


def _random_boxes(rng, batch: int, slots: int, max_boxes: int):
    boxes = np.zeros((batch, slots, 4), np.float32)
    classes = np.zeros((batch, slots), np.int32)
    for b in range(batch):
        for i in range(rng.integers(0, max_boxes + 1)):
            y0, x0 = rng.uniform(0.0, 0.7, 2)
            h, w = rng.uniform(0.08, 0.6, 2)
            boxes[b, i] = [y0, x0, min(y0 + h, 1.0), min(x0 + w, 1.0)]
            classes[b, i] = rng.integers(1, 4)
    return boxes, classes


def test_atss_matches_a_per_box_numpy_reference():
    boxes, classes = _random_boxes(np.random.default_rng(3), batch=4, slots=6, max_boxes=5)
    cls_t, box_t, num_pos = targets.assign_targets(boxes, classes, ANCHORS, PLAIN)
    for b in range(len(boxes)):
        expected = _reference(boxes[b], classes[b], PLAIN)
        np.testing.assert_array_equal(cls_t.numpy()[b], expected)
        assert float(num_pos[b]) == np.count_nonzero(expected)
    assert int(np.sum(num_pos)) > 0
    assert np.all(cls_t.numpy() >= 0)  # no ignore band


def _owners(cls_t: np.ndarray, box_t: np.ndarray, boxes: np.ndarray):
    """Positive anchors of one image and the index of the box each was matched to (decoded)."""
    positives = np.flatnonzero(cls_t > 0)
    decoded = box_coding.decode(box_t[positives], ANCHORS[positives]).numpy() / S
    owner = np.argmin(np.abs(decoded[:, None, :] - boxes[None]).sum(-1), axis=1)
    np.testing.assert_allclose(decoded, boxes[owner], atol=1e-4)
    return positives, owner


def test_every_valid_box_gets_a_positive_inside_it():
    small = [60 / S, 61 / S, 63 / S, 64 / S]  # 3 x 3 px, no anchor centre inside: forced
    boxes, classes = _random_boxes(np.random.default_rng(7), batch=3, slots=5, max_boxes=4)
    boxes[0, 4], classes[0, 4] = small, 3
    forced = targets.assign_targets(boxes, classes, ANCHORS, CFG)
    plain = targets.assign_targets(boxes, classes, ANCHORS, PLAIN)
    centres = (ANCHORS[:, :2] + ANCHORS[:, 2:]) / 2 / S
    for b in range(len(boxes)):
        _, owner = _owners(forced[0].numpy()[b], forced[1].numpy()[b], boxes[b])
        assert set(owner) == set(np.flatnonzero(classes[b] > 0)), f"image {b}"
        positives, owner = _owners(plain[0].numpy()[b], plain[1].numpy()[b], boxes[b])
        c, box = centres[positives], boxes[b][owner]
        assert np.all((c[:, 0] > box[:, 0]) & (c[:, 0] < box[:, 2]))
        assert np.all((c[:, 1] > box[:, 1]) & (c[:, 1] < box[:, 3]))
        if b == 0:
            assert 4 not in owner  # plain ATSS leaves the tiny box without a positive


def test_images_without_boxes_are_all_background():
    boxes = np.zeros((2, 3, 4), np.float32)
    classes = np.zeros((2, 3), np.int32)
    cls_t, box_t, num_pos = targets.assign_targets(boxes, classes, ANCHORS, CFG)
    assert cls_t.shape == (2, len(ANCHORS)) and box_t.shape == (2, len(ANCHORS), 4)
    assert np.all(cls_t.numpy() == targets.BACKGROUND) and np.all(box_t.numpy() == 0)
    np.testing.assert_array_equal(num_pos.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_static_shapes_in_a_tf_function_match_eager(jit_compile):
    boxes, classes = _random_boxes(np.random.default_rng(11), batch=2, slots=8, max_boxes=3)
    eager = targets.assign_targets(boxes, classes, ANCHORS, CFG)

    @tf.function(jit_compile=jit_compile)
    def assign(b, c):
        return targets.assign_targets(b, c, ANCHORS, CFG)

    spec = (tf.TensorSpec([2, 8, 4], tf.float32), tf.TensorSpec([2, 8], tf.int32))
    concrete = assign.get_concrete_function(*spec)
    assert [o.shape.as_list() for o in concrete.outputs] == [
        [2, len(ANCHORS)],
        [2, len(ANCHORS), 4],
        [2],
    ]
    for a, b in zip(eager, assign(tf.constant(boxes), tf.constant(classes)), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_unbatched_inputs_and_anchors_of_another_config_are_refused_or_handled():
    boxes, classes = _random_boxes(np.random.default_rng(5), batch=1, slots=2, max_boxes=2)
    batched = targets.assign_targets(boxes, classes, ANCHORS, CFG)
    single = targets.assign_targets(boxes[0], classes[0], ANCHORS, CFG)
    np.testing.assert_array_equal(batched[0].numpy()[0], single[0].numpy())
    with pytest.raises(ValueError, match="anchors"):
        targets.assign_targets(boxes, classes, ANCHORS[:-9], CFG)


def test_the_registry_and_the_config_know_the_same_assigners():
    for name in targets.ASSIGNERS:
        assert CFG.with_overrides({"anchors.assigner": name}).anchors.assigner == name
    with pytest.raises(UserError) as err:
        CFG.with_overrides({"anchors.assigner": "simota"})
    assert f"(known: {', '.join(targets.ASSIGNERS)})" in str(err.value)
