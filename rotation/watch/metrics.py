"""The watchdog's counts in Cloud Insight: one schema, one record per secret and one for
the fleet, per run. Optional: only with ``[watch.metrics]`` (deploy creates the schema and
hands the action its ``cw_key``).

The schema ``Custom/SecretRotator`` (:data:`FIELDS`): dimensions ``secretId`` (the ID
dimension, which event rules key on; ``_fleet`` for the fleet's record), ``secretName``
and ``fleet`` (the rotation trigger's name, so two deployments can share the schema);
integer metrics, one per verdict (:data:`METRICS`), plus ``attention``, ``executed`` (a
windowed rotation started by this run) and ``secrets``. A secret's record holds 1 for
its verdict and 0 for the others; the fleet's holds the counts. Record, as sent::

    {"secretId": "_fleet", "secretName": "_fleet", "fleet": "secret-rotator-trigger",
     "ok": 997, "failed": 1, "overdue": 1, "left_running": 0, "auto_off": 0,
     "unlinked": 1, "action_missing": 0, ..., "attention": 3, "executed": 0,
     "secrets": 1000}

An event rule then alerts when ``failed`` or ``overdue`` of ``secretId = _fleet`` is above
0 (README, "The watchdog"). Cloud Insight collects per minute and aggregates Min1 to Day1
(documented); the watchdog pushes once per run, so a rule's duration should be 1 minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rotation import verdicts
from rotation.watch.sweep import MISSING, Sweep

FLEET = "_fleet"
#: Verdict -> metric name (Cloud Insight field names: letters, digits, underscores).
METRICS: dict[str, str] = {
    "ok": "ok",
    "rotating": "rotating",
    verdicts.WAITING: "waiting",
    "failed": "failed",
    "left running": "left_running",
    "overdue": "overdue",
    "warn": "warn",
    "auto rotation off": "auto_off",
    "disabled": "disabled",
    verdicts.SCHEDULE_ON: "schedule_on",
    MISSING: "missing",
    verdicts.UNLINKED: "unlinked",
    verdicts.ACTION_MISSING: "action_missing",
}
EXTRA = ("attention", "executed", "secrets")
DIMENSIONS = ("secretId", "secretName", "fleet")


def _metric(name: str, desc: str) -> dict[str, Any]:
    return {
        "name": name, "dataType": "INTEGER", "metric": True, "dimension": False,
        "counter": False, "desc": desc,
    }  # fmt: skip


#: The schema's fields (CreateCustomSchema's FieldDto list).
FIELDS: tuple[Mapping[str, Any], ...] = (
    {"name": "secretId", "dataType": "STRING", "dimension": True, "metric": False,
     "counter": False, "isIdDimension": True, "desc": "the secret's id, or _fleet"},
    {"name": "secretName", "dataType": "STRING", "dimension": True, "metric": False,
     "counter": False, "isIdDimension": False, "desc": "the secret's name"},
    {"name": "fleet", "dataType": "STRING", "dimension": True, "metric": False,
     "counter": False, "isIdDimension": False, "desc": "the rotation trigger's name"},
    *(_metric(m, f"secrets with the verdict {v}") for v, m in METRICS.items()),
    _metric("attention", "secrets that need a look"),
    _metric("executed", "windowed rotations this run started"),
    _metric("secrets", "secrets swept"),
)  # fmt: skip


def _zero() -> dict[str, int]:
    return dict.fromkeys([*dict.fromkeys(METRICS.values()), *EXTRA], 0)


def records(sweep: Sweep, fleet: str, *, per_secret: bool) -> list[dict[str, Any]]:
    """This run's records: the fleet's first, then one per secret if asked. ``attention``
    counts problems (a secret may have two: overdue and unlinked)."""
    totals = _zero()
    out: list[dict[str, Any]] = []
    for report in sweep.reports:
        counts = _zero()
        counts[METRICS.get(report.verdict, "ok")] = 1
        counts["unlinked"] = int(not report.linked)
        counts["attention"] = len(report.problems)
        counts["executed"] = int(report.executed)
        counts["secrets"] = 1
        for key, value in counts.items():
            totals[key] += value
        if per_secret:
            out.append(
                {"secretId": report.secret_id, "secretName": report.name, "fleet": fleet, **counts}
            )
    missing = sum(p.kind == verdicts.ACTION_MISSING for p in sweep.trigger_problems)
    totals["action_missing"] = missing
    totals["attention"] += len(sweep.trigger_problems)
    return [{"secretId": FLEET, "secretName": FLEET, "fleet": fleet, **totals}, *out]
