"""Quarantine reasons and kinds shared by the dataset readers and per-image validation.

Reasons are short fixed strings so ``stats.json`` can count them; the specifics (the error
text, the coordinates, the annotation id) go into ``QuarantineRecord.detail``.
"""

from __future__ import annotations

KIND_IMAGE = "image"
KIND_BOX = "box"

# Image quarantines (kind "image": the image and all of its boxes are rejected).
MISSING_IMAGE = "missing image file"
UNREADABLE_NOT_AN_IMAGE = "unreadable image: not an image file"
UNREADABLE_TRUNCATED = "unreadable image: truncated"
UNREADABLE_CORRUPT = "unreadable image: corrupt"
UNREADABLE_FILE = "unreadable image: cannot read file"

# Box quarantines (kind "box": one box is rejected, the image stays).
DEGENERATE_BOX = "degenerate box"
BOX_OUTSIDE_IMAGE = "box outside image"
INVALID_BOX = "invalid box coordinates"
UNKNOWN_CATEGORY = "unknown category id"
UNKNOWN_CLASS_NAME = "unknown class name"
CLASS_INDEX_OUT_OF_RANGE = "class index out of range"
UNPARSABLE_LABEL_LINE = "unparsable label line"
MISSING_IMAGE_ID = "annotation references missing image"
