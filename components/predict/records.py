"""What ``nasdet predict`` writes per image and for the run (plain data, JSON round trip).

Per image, ``labels/<name>.json``::

    {"image": "<path>", "image_id": 3, "width": 640, "height": 480,
     "detections": [{"class_id": 1, "class_name": "raccoon", "score": 0.91,
                     "box_xyxy": [x1, y1, x2, y2],            # pixels of the original image
                     "box_yxyx_normalized": [ymin, xmin, ymax, xmax]}]}

``predictions.json`` holds every detection in the COCO results format (``image_id``,
``category_id``, ``bbox`` [x, y, w, h] in pixels, ``score``) and ``images.json`` maps each
``image_id`` to its file. With ``--save-txt``, ``labels/<name>.txt`` has YOLO lines
``class_index cx cy w h score`` (normalised; class index = class id - 1).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Detection:
    """One detection: a class, a score and a box in the pixels of the original image."""

    class_id: int
    class_name: str
    score: float
    box_xyxy: tuple[float, float, float, float]

    def normalized_yxyx(self, width: int, height: int) -> list[float]:
        """``[ymin, xmin, ymax, xmax]`` divided by the image's height and width."""
        x1, y1, x2, y2 = self.box_xyxy
        return [y1 / height, x1 / width, y2 / height, x2 / width]

    def to_json(self, width: int, height: int) -> dict:
        """The per-image JSON entry of this detection."""
        return {
            "class_id": self.class_id,
            "class_name": self.class_name,
            "score": round(self.score, 6),
            "box_xyxy": [round(v, 3) for v in self.box_xyxy],
            "box_yxyx_normalized": [round(v, 6) for v in self.normalized_yxyx(width, height)],
        }

    def coco(self, image_id: int) -> dict:
        """The COCO results entry (``bbox`` is x, y, width, height in pixels)."""
        x1, y1, x2, y2 = self.box_xyxy
        return {
            "image_id": image_id,
            "category_id": self.class_id,
            "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
            "score": round(self.score, 6),
        }

    def yolo_line(self, width: int, height: int) -> str:
        """``class_index cx cy w h score`` (normalised centre and size), as Ultralytics writes."""
        x1, y1, x2, y2 = self.box_xyxy
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        w, h = (x2 - x1) / width, (y2 - y1) / height
        return f"{self.class_id - 1} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f} {self.score:.6f}"
