"""Detection metrics shared by the search objective and the evaluate step (COCO box metrics)."""
