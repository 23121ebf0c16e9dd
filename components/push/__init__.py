"""The push step: versioned, atomic copy of a blessed model into a TF Serving model root."""

from components.push.push import run

__all__ = ["run"]
