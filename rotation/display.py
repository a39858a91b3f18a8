"""Human-readable views for the CLI and the demo: tables, dates, masked values.

Masking is :func:`rotation.sensitive.masked` (the deployment plan uses the same function): a
rotation target or a secret-looking key is shown as ``****`` unless the caller asks to
reveal it; values are formatted key by key, never through a generic ``repr``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from rotation.ncp.models import SecretChain, SecretDetail, SecretValue, Stage
from rotation.sensitive import MASK, masked

__all__ = [
    "MASK", "detail_json", "detail_rows", "format_chain", "format_detail", "iso_ms",
    "masked_value", "table",
]  # fmt: skip


def iso_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def table(rows: Iterable[tuple[str, str]]) -> str:
    items = list(rows)
    width = max((len(k) for k, _ in items), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in items)


def detail_rows(detail: SecretDetail) -> list[tuple[str, str]]:
    """The fields of Get Secret Detail (seed 002), in the seed's order."""
    rows = [
        ("secretId", detail.secret_id),
        ("secretName", detail.secret_name),
        ("secretStatus", detail.status.value),
        ("secretType", detail.secret_type or "-"),
        ("memo", detail.memo or "-"),
        ("region", detail.region or "-"),
    ]
    if detail.expected_destroy_date is not None:
        rows.append(("expectedDestroyDate", iso_ms(detail.expected_destroy_date)))
    rows += [
        ("updateDate", iso_ms(detail.update_date)),
        ("registerDate", iso_ms(detail.register_date)),
        ("autoRotationYN", "Y" if detail.auto_rotation else "N"),
    ]
    if detail.auto_rotation:
        rows.append(("autoRotationPeriod", f"{detail.auto_rotation_period} days"))
        rows.append(("nextRotationDate", iso_ms(detail.next_rotation_date)))
    rows.append(("rotationPhase", detail.rotation_phase.value))
    if detail.last_rotation_date is not None:
        rows.append(("lastRotationDate", iso_ms(detail.last_rotation_date)))
    if detail.trigger is not None:
        rows.append(("trigger", f"{detail.trigger.name or '-'} ({detail.trigger.id})"))
        if detail.trigger.recently_executed_action:
            rows.append(("trigger.recentlyExecutedAction", detail.trigger.recently_executed_action))
    if detail.protection_key is not None:
        key = detail.protection_key
        text = key.type.value + (
            f" {key.kms_key_name} ({key.kms_key_tag})" if key.kms_key_tag else ""
        )
        rows.append(("protectionKey", text))
    return rows


def format_detail(detail: SecretDetail) -> str:
    return table(detail_rows(detail))


def detail_json(detail: SecretDetail) -> dict[str, Any]:
    """The detail back in the API's own field names (for ``--json``)."""
    data: dict[str, Any] = {
        "secretId": detail.secret_id,
        "secretName": detail.secret_name,
        "secretStatus": detail.status.value,
        "secretType": detail.secret_type,
        "memo": detail.memo,
        "region": detail.region,
        "expectedDestroyDate": detail.expected_destroy_date,
        "updateDate": detail.update_date,
        "registerDate": detail.register_date,
        "autoRotationYN": "Y" if detail.auto_rotation else "N",
        "autoRotationPeriod": detail.auto_rotation_period,
        "nextRotationDate": detail.next_rotation_date,
        "rotationPhase": detail.rotation_phase.value,
        "lastRotationDate": detail.last_rotation_date,
    }
    if detail.trigger is not None:
        data["trigger"] = {
            "id": detail.trigger.id,
            "name": detail.trigger.name,
            "url": detail.trigger.url,
            "recentlyExecutedAction": detail.trigger.recently_executed_action,
        }
    if detail.protection_key is not None:
        data["protectionKey"] = {
            "type": detail.protection_key.type.value,
            "kmsKeyTag": detail.protection_key.kms_key_tag,
            "kmsKeyName": detail.protection_key.kms_key_name,
        }
    return {k: v for k, v in data.items() if v is not None}


def masked_value(
    value: SecretValue, targets: Iterable[str], *, reveal: bool = False
) -> dict[str, Any]:
    """A stage for display: rotation targets and secret-looking keys masked unless
    ``reveal``; the rest (host, port, username) shown, so the shape stays readable."""
    return masked(value, also=targets, reveal=reveal)


def format_chain(chain: SecretChain, *, reveal: bool = False) -> str:
    rows = []
    for stage in Stage:
        value = chain.stage(stage)
        shown = (
            "-"
            if value is None
            else json.dumps(
                masked_value(value, chain.rotation_targets, reveal=reveal), ensure_ascii=False
            )
        )
        rows.append((stage.value.lower(), shown))
    rows.append(("rotationTargets", ", ".join(chain.rotation_targets)))
    return table(rows)
