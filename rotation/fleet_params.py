"""One action, many secrets: each secret's own parameters, picked out of the shared ones.

A Secret Manager trigger runs one rotation action for every secret linked to it, and the
action has one set of default parameters. ``python -m deploy`` therefore writes the
parameters every secret shares at the top level (``policy``, ``target``, the endpoint and
keys) and the parameters where a secret differs under ``bySecretId``, keyed by secret id
(the only name the action is told)::

    {
      "policy": {"length": 40},
      "target": {"kind": "postgresql", "testQuery": "SELECT 1"},
      "bySecretId": {
        "3f2a...": {"target": {"kind": "redis"}},
        "9c41...": {"policy": {"length": 32}}
      }
    }

:func:`parameters_for` gives the parameters as one secret should see them. A secret's own
key *replaces* the shared key whole, without merging inside it, so a Redis secret never
inherits a PostgreSQL ``testQuery``. Keys that do not vary stay shared. The name
``bySecretId`` ends in "id", so the log redaction and the display mask do not hide the
whole map (:mod:`rotation.sensitive`); secret-looking keys inside it are still masked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rotation import codes
from rotation.codes import CodedError

#: The parameter holding per-secret overrides, keyed by secret id.
BY_SECRET_ID = "bySecretId"


class FleetParamsError(CodedError, ValueError):
    """``bySecretId`` (or this secret's entry in it) is not a JSON object. The message
    names the parameter, never a value."""

    code = codes.INVALID_PARAMETER


def parameters_for(args: Mapping[str, Any], secret_id: str) -> dict[str, Any]:
    """``args`` with this secret's entry of ``bySecretId`` laid over it key by key, and
    ``bySecretId`` itself removed. Without an entry (or without ``bySecretId``) the shared
    parameters are returned unchanged. A JSON text holding an object is accepted where an
    object is expected, as consoles often store default parameters as text."""
    shared = {k: v for k, v in args.items() if k != BY_SECRET_ID}
    fleet = json_object(args.get(BY_SECRET_ID), BY_SECRET_ID)
    if fleet is None:
        return shared
    own = json_object(fleet.get(secret_id), f"{BY_SECRET_ID}[secret id]")
    return {**shared, **(own or {})}


def json_object(
    value: Any, name: str, code: str = codes.INVALID_PARAMETER
) -> Mapping[str, Any] | None:
    """An object parameter; a string holding a JSON object is accepted too (consoles often
    store default parameters as text). Raises :class:`FleetParamsError` with ``code``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FleetParamsError(f"{name} must be a JSON object", code=code) from None
    if not isinstance(value, Mapping):
        raise FleetParamsError(f"{name} must be a JSON object", code=code)
    return value
