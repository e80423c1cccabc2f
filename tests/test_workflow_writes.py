"""What the workflow writes beside the row's state, through the API of the small event app
(tests/workflow_fixture.py, with a recording plugin and a parameter entity), SQLite and PostgreSQL: review
updates run the other plugins' after-update hooks like every other flow write."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import BACKENDS
from plugin_support import install_plugin
from workflow_fixture import APP_YAML, FLOW_MODULE, act, flow_env, launched

from specadmin.runtime.plugin import EntityHooks, Plugin

pytestmark = pytest.mark.asyncio(loop_scope="session")
SEEN: list[tuple] = []


async def _seen(event) -> None:
    SEEN.append((event.entity.name, event.row_id, (event.before or {}).get("status"), event.columns.get("status")))


TALLY = Plugin(name="flowtally", hooks={"event_review": EntityHooks(after_update=_seen)})


@pytest.fixture(scope="module", params=BACKENDS)
async def env(request, tmp_path_factory):
    install_plugin(Path(tempfile.gettempdir()) / "specadmin-plugin-flowtally", "flowtally", "test_workflow_writes:TALLY")
    app_yaml = APP_YAML.replace("plugins: [workflow]", "plugins: [workflow, flowtally]")
    async with flow_env(request.param, tmp_path_factory, FLOW_MODULE, app_yaml) as env:
        yield env


async def test_a_review_approval_runs_another_plugins_after_update_hook_on_the_review(env):
    event_id = await launched(env, ("DA", "lead"))
    assert (await act(env, "da", event_id, "return", reason="不属本单位职责")).status_code == 200
    review = env["ctx"].table("event_review")
    [row] = await review.select(review.id).where(review.event == event_id)
    SEEN.clear()
    r = await act(env, "town", event_id, "approve_return", opinion="同意")
    assert r.status_code == 200, r.text
    assert ("event_review", row["id"], "pending", "approved") in SEEN
