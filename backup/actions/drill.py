"""``seawall drill``: prove that backups restore, and measure RPO and RTO, for every chosen set and host.

A thin action: the drill of one set on one host is ``seawall.backup.drill``'s (check slice, snapshot
choice, restore with ``--verify``, sampled hashes, the set's checks, RPO and RTO); this runs the check
slices and drills ``--jobs`` at a time, records every result (report, metrics, state), and on SIGINT or
SIGTERM removes the scratch folders and records each pair as interrupted.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from seawall.backup.context import BackupContext
from seawall.backup.drill import DrillOptions, DrillResult, Reporter, check_slice, drill_one, scratch_root
from seawall.backup.reports import record_drill, record_interrupted_drill
from seawall.backup.verify import remove_tree
from seawall.errors import Interrupted
from seawall.files import os_reason

logger = logging.getLogger(__name__)

__all__ = ["DrillOptions", "DrillResult", "run_drills"]


def run_drills(context: BackupContext, options: DrillOptions, report: Reporter | None = None) -> list[DrillResult]:
    """Given a backup context, drill every chosen (set, host) pair and return the results.

    On SIGINT/SIGTERM the scratch folders are removed and every pair is recorded as interrupted before
    the ``Interrupted`` goes on up.
    """
    pairs = context.pairs
    # --jobs is the number of restic processes at once: drills, their check slices and samples share them.
    context = dataclasses.replace(context, slots=threading.BoundedSemaphore(max(1, options.jobs)))
    root = scratch_root(context, options.target)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            checks = {name: pool.submit(check_slice, context, name) for name in context.sets}
            with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as drills:
                futures = [
                    drills.submit(drill_one, context, name, each, options, seed, root, checks[name], report)
                    for name, each in pairs
                ]
                results = [future.result() for future in futures]
    except Interrupted as exc:
        for name, each in pairs:
            record_interrupted_drill(context, name, each, str(exc))
        raise
    finally:
        if options.target is None and not options.keep:
            remove_tree(root)
    for result in results:
        try:
            result.report_path = record_drill(context, result)
        except OSError as exc:  # a full disk, a read-only folder: the other results are still recorded
            result.unrecorded = (
                f"could not record the drill, which {'passed' if result.passed else 'failed'}: {os_reason(exc)}; "
                "check that backup.reports_dir, backup.state_dir and backup.metrics_dir are writable and their "
                "disk has room"
            )
            logger.error("drill of %s on %s: %s", result.set_name, result.host, result.unrecorded)
    return results
