"""A display publisher for tests: records every display and update instead of printing it."""
from __future__ import annotations

from IPython.core.displaypub import DisplayPublisher


class RecordingPublisher(DisplayPublisher):
    """Records every display / update instead of printing it."""

    def __init__(self):
        super().__init__()
        self.events = []

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.events.append({"data": data, "display_id": (transient or {}).get("display_id"), "update": update})
