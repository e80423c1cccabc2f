"""A pytest plugin: the run ends when its results are final, even if something keeps the process up.

Python joins every non-daemon thread (and multiprocessing child) before it exits. One left running
by a test or by the product (an unclosed database connection's worker thread, an executor still
waiting) would keep pytest alive after it printed its summary, until CI's time limit: the results
would be lost to a hang. After the session ends, a daemon thread waits EXIT_GRACE seconds; if the
process is still alive then, it names what is keeping it up (thread stacks, live children) on
stderr and exits with the session's own status, so the cause is in the log and no result changes.
"""
from __future__ import annotations

import faulthandler
import multiprocessing
import os
import sys
import threading
import time

EXIT_GRACE = float(os.environ.get("SPECADMIN_TEST_EXIT_GRACE", "120"))

_status: list[int] = []


def pytest_sessionfinish(session, exitstatus) -> None:
    _status.append(int(exitstatus))


def _report_and_exit() -> None:
    time.sleep(EXIT_GRACE)
    err = sys.__stderr__
    blocking = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    err.write(f"\nexit_watchdog: the process is still alive {EXIT_GRACE:.0f} s after the session ended; "
              f"non-daemon threads: {[t.name for t in blocking]}, "
              f"children: {[p.name for p in multiprocessing.active_children()]}\n")
    err.flush()
    faulthandler.dump_traceback(file=err, all_threads=True)
    err.flush()
    os._exit(_status[-1] if _status else 1)


def pytest_unconfigure(config) -> None:
    threading.Thread(target=_report_and_exit, name="exit-watchdog", daemon=True).start()
