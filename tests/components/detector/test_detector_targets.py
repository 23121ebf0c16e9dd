"""Target assignment on hand-made cases: exact matches, forced matches, padding, ignore zone."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.detector import anchors as anchors_lib
from components.detector import box_coding, targets
from components.detector.config_load import get_preset

CFG = get_preset("tiny").replace(num_classes=3)
ANCHORS = anchors_lib.generate_anchors(CFG)
S = CFG.image_size
# level 3, row 7, column 7, scale 0, ratio 1: a 32 x 32 box centred at (60, 60)
INSIDE = (7 * 16 + 7) * 9


def _batch(boxes, classes):
    return np.asarray(boxes, np.float32)[None], np.asarray(classes, np.int32)[None]


def test_box_equal_to_an_anchor_is_positive_with_zero_box_target():
    gt = ANCHORS[INSIDE] / S
    boxes, classes = _batch([gt, [0, 0, 0, 0]], [2, 0])  # second row is padding
    cls_t, box_t, num_pos = targets.assign_targets(boxes, classes, ANCHORS, CFG)
    cls_t, box_t = cls_t.numpy()[0], box_t.numpy()[0]
    assert cls_t[INSIDE] == 2
    np.testing.assert_allclose(box_t[INSIDE], 0.0, atol=1e-5)
    positives = np.flatnonzero(cls_t > 0)
    assert set(cls_t[positives]) == {2}
    assert float(num_pos[0]) == len(positives)
    # every other positive has IoU >= 0.5 with the box, and its target decodes back to the box
    iou = targets.pairwise_iou(tf.constant(ANCHORS), tf.constant(gt[None, None] * S)).numpy()[
        0, :, 0
    ]
    assert np.all(iou[positives] >= 0.5)
    assert np.all(cls_t[iou < 0.5] == 0)
    decoded = box_coding.decode(box_t[positives], ANCHORS[positives]).numpy()
    np.testing.assert_allclose(decoded, np.repeat(gt[None] * S, len(positives), 0), atol=1e-3)


def test_a_small_box_is_force_matched_to_its_best_anchor():
    small = np.array([60, 60, 64, 64], np.float32) / S  # 4 x 4 px: IoU < 0.5 with every anchor
    boxes, classes = _batch([small], [3])
    cls_t, _, num_pos = targets.assign_targets(boxes, classes, ANCHORS, CFG)
    assert float(num_pos[0]) == 1.0
    iou = targets.pairwise_iou(tf.constant(ANCHORS), tf.constant(small[None, None] * S)).numpy()[
        0, :, 0
    ]
    assert iou.max() < 0.5
    assert np.flatnonzero(cls_t.numpy()[0] == 3).tolist() == [int(np.argmax(iou))]
    no_force = CFG.with_overrides({"anchors.force_match": False})
    _, _, num_pos = targets.assign_targets(boxes, classes, ANCHORS, no_force)
    assert float(num_pos[0]) == 0.0


def test_images_without_boxes_are_all_background():
    boxes = np.zeros((2, 4, 4), np.float32)
    classes = np.zeros((2, 4), np.int32)
    cls_t, box_t, num_pos = targets.assign_targets(boxes, classes, ANCHORS, CFG)
    assert cls_t.shape == (2, len(ANCHORS)) and box_t.shape == (2, len(ANCHORS), 4)
    assert np.all(cls_t.numpy() == 0) and np.all(box_t.numpy() == 0)
    np.testing.assert_array_equal(num_pos.numpy(), [0.0, 0.0])


def test_between_thresholds_is_ignored():
    cfg = CFG.with_overrides({"anchors.unmatched_threshold": 0.4, "anchors.force_match": False})
    anchor = ANCHORS[INSIDE]
    # shift a 32 x 32 box right by d: IoU = (32 - d) / (32 + d) = 0.45 for d = 32 * 0.55 / 1.45
    d = 32 * 0.55 / 1.45
    gt = (anchor + [0, d, 0, d]) / S
    cls_t, _, _ = targets.assign_targets(*_batch([gt], [1]), ANCHORS, cfg)
    assert cls_t.numpy()[0, INSIDE] == targets.IGNORE


def test_unbatched_inputs_give_unbatched_outputs_and_work_in_tf_data():
    gt = ANCHORS[INSIDE] / S
    ds = tf.data.Dataset.from_tensors((np.float32([gt]), np.int32([1])))
    ds = ds.map(lambda b, c: targets.assign_targets(b, c, ANCHORS, CFG))
    cls_t, box_t, num_pos = next(iter(ds))
    assert cls_t.shape == (len(ANCHORS),) and box_t.shape == (len(ANCHORS), 4)
    assert int(cls_t[INSIDE]) == 1 and float(num_pos) >= 1.0


def test_trimming_padding_gives_the_same_targets_and_xla_works():
    gt = ANCHORS[INSIDE] / S
    boxes = np.zeros((2, 6, 4), np.float32)
    classes = np.zeros((2, 6), np.int32)
    boxes[0, 0], classes[0, 0] = gt, 1
    boxes[1, 1], classes[1, 1] = [0.5, 0.5, 0.9, 0.8], 2  # a real box after a padding row
    static = targets.assign_targets(boxes, classes, ANCHORS, CFG, trim=False)
    trimmed = targets.assign_targets(boxes, classes, ANCHORS, CFG, trim=True)
    xla = tf.function(lambda b, c: targets.assign_targets(b, c, ANCHORS, CFG), jit_compile=True)(
        tf.constant(boxes), tf.constant(classes)
    )
    for other in (trimmed, xla):
        for a, b in zip(static, other, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    assert int(np.sum(static[0].numpy()[1] == 2)) >= 1
