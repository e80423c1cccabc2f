"""Plugin `hotline`: 12345 接诉即办 ticket extraction, a custom rule (`function: hotline.extract`)."""
from __future__ import annotations

from specadmin.plugins.hotline.extract import extract
from specadmin.runtime.plugin import Plugin

plugin = Plugin(name="hotline", label="12345 接诉即办", handlers={"extract": extract})
