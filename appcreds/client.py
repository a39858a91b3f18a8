"""A Secret Manager client sized for an application's request path.

The rotation's client waits long and retries five times, because a rotation has a deadline
of its own and nothing waits on it. An application reads Secret Manager *inside a request*
(the first read, a refused login): a read must give up quickly and let the cache serve
what it holds, so this one connects within 1 s, reads within 3 s and tries twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from rotation.ncp.hosts import default_endpoint
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy, Timeouts

APP_TIMEOUTS = Timeouts(connect=1.0, read=3.0)
APP_RETRY = RetryPolicy(
    attempts=2, wait_initial=0.1, wait_max=0.5, wait_jitter=0.1, throttled_attempts=3
)


def secret_manager(
    access_key: str | None = None,
    secret_key: str | None = None,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretManagerClient:
    """A client with :data:`APP_TIMEOUTS` and :data:`APP_RETRY`. Missing arguments come
    from the environment the rotation's CLI reads: ``NCLOUD_ACCESS_KEY``,
    ``NCLOUD_SECRET_KEY``, ``NCLOUD_SECRET_MANAGER_ENDPOINT``, ``NCLOUD_REGION`` (the
    region's host by default)."""
    env = os.environ if environ is None else environ
    access = access_key or env.get("NCLOUD_ACCESS_KEY", "")
    secret = secret_key or env.get("NCLOUD_SECRET_KEY", "")
    if not access or not secret:
        raise ValueError("an access key and a secret key are needed (NCLOUD_ACCESS_KEY, ...)")
    where = (
        endpoint
        or env.get("NCLOUD_SECRET_MANAGER_ENDPOINT")
        or default_endpoint(region or env.get("NCLOUD_REGION") or "KR")
    )
    return SecretManagerClient(
        Credentials(access, secret), endpoint=where, timeouts=APP_TIMEOUTS, retry=APP_RETRY
    )
