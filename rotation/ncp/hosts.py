"""Which Secret Manager host serves a secret, and finding it when nobody said.

NCP's overview page (https://api.ncloud-docs.com/docs/en/secretmanager-api-overview) gives
each region its hosts, chosen by the KMS key that protects the secret:

    region  global key (older secrets)               region-isolated key
    KR      https://secretmanager.apigw.ntruss.com   https://ocapi-kr.ncloud.com/secretmanager
    JPN     (none: only isolated keys)               https://ocapi-jp.ncloud.com/secretmanager

and "you can no longer select a global key when integrating new secrets". So the default is
the region's isolated-key host, and in KR the global host is the one other place an older
secret can live. An endpoint the operator configured is used as it is: no second host.

What a secret on the wrong host answers is not documented (a guess: 404, as for any unknown
secret). :func:`choose_endpoint` asks for the secret on the first host and, on 404 only,
once on the other, and logs which answered. Any other answer (a refused key, a 5xx, no
network) is no reason to go elsewhere; it returns the first host and lets the rotation meet
the same error where it is reported properly.
"""

from __future__ import annotations

import structlog

GLOBAL_ENDPOINT = "https://secretmanager.apigw.ntruss.com"
REGIONAL_ENDPOINTS = {
    "KR": "https://ocapi-kr.ncloud.com/secretmanager",
    "JPN": "https://ocapi-jp.ncloud.com/secretmanager",
}
DEFAULT_REGION = "KR"
#: Region codes as NCP spells them (``NCLOUD_REGION``), plus the obvious variants.
REGION_ALIASES = {"KR": "KR", "KOR": "KR", "JPN": "JPN", "JP": "JPN"}

log = structlog.get_logger("rotation.ncp.hosts")


class UnknownRegion(ValueError):
    """A region without Secret Manager rotation (Secret Manager triggers exist in KR and JPN
    only: https://guide.ncloud-docs.com/docs/en/cloudfunctions-secretmanager-vpc.md)."""


def region_code(raw: str | None) -> str:
    """``KR`` or ``JPN`` from a setting; empty means the default, KR."""
    if raw is None or not raw.strip():
        return DEFAULT_REGION
    code = REGION_ALIASES.get(raw.strip().upper())
    if code is None:
        raise UnknownRegion(
            f"region {raw.strip()[:20]!r} has no Secret Manager rotation; use KR or JPN"
        )
    return code


def default_endpoint(region: str = DEFAULT_REGION) -> str:
    """The host new secrets of ``region`` live behind."""
    return REGIONAL_ENDPOINTS[region_code(region)]


def candidates(region: str = DEFAULT_REGION, endpoint: str | None = None) -> tuple[str, ...]:
    """The hosts to try, in order: the configured one alone, else regional then global."""
    if endpoint:
        return (endpoint,)
    code = region_code(region)
    regional = REGIONAL_ENDPOINTS[code]
    return (regional, GLOBAL_ENDPOINT) if code == "KR" else (regional,)
