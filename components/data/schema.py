"""The tf.Example schema of the Examples artifact (TF Object Detection API keys).

Plain constants only: importing this module never imports TensorFlow. The artifact's file
layout (splits, shards, labels.json, stats.json) is in :mod:`components.artifacts.examples`.
"""

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_FILENAME = "image/filename"
IMAGE_SOURCE_ID = "image/source_id"
BBOX_XMIN = "image/object/bbox/xmin"
BBOX_YMIN = "image/object/bbox/ymin"
BBOX_XMAX = "image/object/bbox/xmax"
BBOX_YMAX = "image/object/bbox/ymax"
CLASS_LABEL = "image/object/class/label"
CLASS_TEXT = "image/object/class/text"
IS_CROWD = "image/object/is_crowd"
AREA = "image/object/area"

BYTES_KEYS = (IMAGE_ENCODED, IMAGE_FORMAT, IMAGE_FILENAME, IMAGE_SOURCE_ID, CLASS_TEXT)
INT64_KEYS = (IMAGE_HEIGHT, IMAGE_WIDTH, CLASS_LABEL, IS_CROWD)
FLOAT_KEYS = (BBOX_XMIN, BBOX_YMIN, BBOX_XMAX, BBOX_YMAX, AREA)
