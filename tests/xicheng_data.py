"""Xicheng test data from the app's own demo modules: 西城区 with its streets, the district admin and
two street users, testing sites with check-ins, sampling, transport and video ledgers. Other
demo modules (demo_mass_testing.py, demo_results.py) load on top through `demo_module`.

(Not named xicheng_fixture.py: that name would make the security walk use it instead of demo.py.)
"""
from __future__ import annotations

import importlib.util
import random

from conftest import EXAMPLES


def demo_module(name: str = "demo"):
    spec = importlib.util.spec_from_file_location(f"xicheng_{name}_for_tests", EXAMPLES / "xicheng" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMO = demo_module()
PASSWORD = DEMO.PASSWORD


async def load_core(ctx, seed: int = 7) -> dict[str, int]:
    """Orgs, users district/street1/street2 and the sites part of the demo; returns org ids by code."""
    from specadmin.runtime.identity.seed import fill_initials
    from specadmin.runtime.identity.users import ensure_user

    orgs = await DEMO._orgs(ctx)
    await fill_initials(ctx)
    await ctx.refresh_caches()
    await ensure_user(ctx, "district", PASSWORD, org_code="XC-YQB", roles=("district_admin",))
    await ensure_user(ctx, "street1", PASSWORD, org_code="XC-S01", roles=("street_user",))
    await ensure_user(ctx, "street2", PASSWORD, org_code="XC-S02", roles=("street_user",))
    await DEMO._load_sites(ctx, random.Random(seed), orgs)
    return orgs
