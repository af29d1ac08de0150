# -*- coding: utf-8 -*-
# Copyright (c) 2026, proxops.proxmox contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bounded parallel work: up to N jobs at once (each one PVE task, waited for), results in input order."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

DONE, FAILED, NOT_STARTED = "done", "failed", "not_started"


@dataclass
class Outcome:
    """What became of one item: ``state`` is done, failed or not_started; ``result`` or ``error`` accordingly."""

    item: Any
    state: str = NOT_STARTED
    result: Any = None
    error: Exception | None = None


def run_bounded(items, job, parallel=1, stop_on_failure=True):
    """Run ``job(item)`` for every item, at most ``parallel`` at once; the outcomes in input order.

    A job that raises is failed.  With ``stop_on_failure`` no further job starts after the
    first failure (the running ones are waited for), and the rest stay not_started.
    """
    items = list(items)
    outcomes = [Outcome(item) for item in items]
    if not items:
        return outcomes
    parallel = max(1, min(int(parallel), len(items)))
    pending, next_index, stopping = {}, 0, False
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        while pending or (next_index < len(items) and not stopping):
            while not stopping and next_index < len(items) and len(pending) < parallel:
                pending[pool.submit(job, items[next_index])] = next_index
                next_index += 1
            finished, _running = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                outcome = outcomes[pending.pop(future)]
                error = future.exception()
                if error is None:
                    outcome.state, outcome.result = DONE, future.result()
                else:
                    outcome.state, outcome.error = FAILED, error
                    stopping = stopping or stop_on_failure
    return outcomes


def summary(outcomes, describe=str):
    """``{"done": [...], "failed": [{"item", "error"}], "not_started": [...]}``, items shown by ``describe``."""
    return {
        DONE: [describe(outcome.item) for outcome in outcomes if outcome.state == DONE],
        FAILED: [{"item": describe(outcome.item), "error": str(outcome.error)} for outcome in outcomes if outcome.state == FAILED],
        NOT_STARTED: [describe(outcome.item) for outcome in outcomes if outcome.state == NOT_STARTED],
    }
