"""Built-in plugin `jobs`: job runs (jobs.yaml), the embedded scheduler inside `specadmin serve`,
and 重新运行 on a failed run."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.jobs import actions
from specadmin.runtime.jobs.cli import JOBS, WORKER
from specadmin.runtime.jobs.embedded import EmbeddedScheduler
from specadmin.runtime.plugin import Plugin
from specadmin.runtime.plugin.background import background_service

configure, scheduler = background_service("scheduler", EmbeddedScheduler)

plugin = Plugin(name="jobs", label="定时任务", builtin=True, order=60,
                modules=(Path(__file__).with_name("jobs.yaml"),), handlers={"retry": actions.retry},
                configure=configure, lifespan=(scheduler,), commands=(JOBS, WORKER))
