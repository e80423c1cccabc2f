"""Plugin `video`: 核对 of surveyed cameras against the video private network (`handler: video.reconcile`)."""
from __future__ import annotations

from specadmin.plugins.video.reconcile import reconcile
from specadmin.runtime.plugin import Plugin

plugin = Plugin(name="video", label="视频图像", handlers={"reconcile": reconcile})
