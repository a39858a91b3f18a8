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

from collections.abc import Sequence

import structlog

from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import NcpError, NotFound
from rotation.ncp.signing import Credentials

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


def choose_endpoint(
    credentials: Credentials,
    secret_id: str,
    endpoints: Sequence[str],
    *,
    deadline: Deadline | None = None,
) -> str:
    """The host that knows ``secret_id``: one Get Secret Detail per host, 404 moves on.

    With a single candidate (a configured endpoint, or JPN) nothing is asked. Never raises
    an API error: when no host can be asked or none knows the secret, the first one is
    returned and the rotation reports what it meets there.
    """
    if not endpoints:
        raise ValueError("give at least one endpoint")
    if len(endpoints) == 1:
        return endpoints[0]
    from rotation.ncp.secretmanager import SecretManagerClient  # noqa: PLC0415 - no cycle
    from rotation.ncp.transport import RetryPolicy  # noqa: PLC0415

    tried: list[str] = []
    for endpoint in endpoints:
        client = SecretManagerClient(
            credentials, endpoint=endpoint, deadline=deadline, retry=RetryPolicy(attempts=2)
        )
        try:
            client.get_secret(secret_id)
        except NotFound:
            tried.append(endpoint)
            log.info("secretmanager.host.not_found", endpoint=endpoint)
            continue
        except NcpError as exc:
            log.warning(
                "secretmanager.host.unchecked",
                endpoint=endpoints[0],
                asked=endpoint,
                error=type(exc).__name__,
                note="could not ask this host; going on with the first one",
            )
            return endpoints[0]
        finally:
            client.close()
        log.info("secretmanager.host", endpoint=endpoint, not_found_on=tried, fallback=bool(tried))
        return endpoint
    log.warning("secretmanager.host.none", tried=tried, note="no host knows the secret")
    return endpoints[0]
