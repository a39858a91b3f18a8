"""Who the action is, and whether its key pair may do what a rotation needs: the two
least-privilege lines of ``rotation check`` (and of a ``dryRun``).

``identity``: STS caller-identity signed with the action's key pair says which account
it signs as. The main account's pair (``userType`` ``Customer``) works, but may do
anything: a warning, since a sub account with only the rotation's policies is what the
README's "Least privilege" table asks for. Caller-identity changes nothing and needs no
policy (its page names none), so it can always be tried.

``access``: the target's own reads (:meth:`rotation.targets.Target.access`): listing the
sub account's keys, a Cloud DB instance's users. A refusal for want of a policy (403, or
the gateway's 401 code 210) is reported as exactly that, with the policy to add.

The STS host: ``NCLOUD_STS_ENDPOINT``, else the target's ``stsEndpoint``, else the one of
the Secret Manager host's site (``sts.apigw.ntruss.com``, ``...gov-ntruss.com``,
``...fin-ntruss.com``); a Secret Manager endpoint off NCP (a local emulator, which serves
every API on one host) is asked itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import AuthenticationFailed, NcpError
from rotation.ncp.signing import Credentials
from rotation.ncp.sts import StsClient
from rotation.ncp.transport import RetryPolicy
from rotation.targets import Target, TargetError

#: The longest the identity line may take: it is one call, and a check must stay quick.
IDENTITY_SECONDS = 5.0
_SITES = (("fin-ntruss.com", "fin-ntruss.com"), ("gov-ntruss.com", "gov-ntruss.com"))


def sts_endpoint(secret_manager_endpoint: str, target: Mapping[str, Any] | None) -> str:
    """Where to ask who the action is (the rule in the module docstring)."""
    configured = os.environ.get("NCLOUD_STS_ENDPOINT") or (target or {}).get("stsEndpoint")
    if isinstance(configured, str) and configured:
        return configured
    parts = urlsplit(secret_manager_endpoint)
    host = parts.hostname or ""
    if not host.endswith(("ntruss.com", "ncloud.com")):
        return f"{parts.scheme}://{parts.netloc}"
    for suffix, site in _SITES:
        if host.endswith(suffix):
            return f"https://sts.apigw.{site}"
    return "https://sts.apigw.ntruss.com"


def identity_line(credentials: Credentials, endpoint: str, deadline: Deadline) -> tuple[str, str]:
    """``(status, message)``: ``ok``, or ``warn`` (the main account's pair, or STS not
    reachable: neither stops a rotation)."""
    bound = deadline.earlier(Deadline.after(IDENTITY_SECONDS))
    client = StsClient(
        credentials, endpoint=endpoint, deadline=bound, retry=RetryPolicy(attempts=2)
    )
    try:
        who = client.caller_identity()
    except AuthenticationFailed as exc:
        return "warn", f"STS caller-identity refused the key pair: {exc}"
    except NcpError as exc:
        return "warn", f"could not ask STS who the action is: {exc}"
    finally:
        client.close()
    if who.main_account:
        return "warn", (
            "the action signs with the main account's key pair, which may do anything: "
            "give it a sub account with only the policies it needs (README, Least privilege)"
        )
    kind = who.user_type or "an"
    return "ok", f"the action signs as {kind} account {who.id} (login alias {who.login_alias})"


def access_line(target: Target) -> tuple[str, str] | None:
    """``(status, message)`` for the target's reads, or None when it has none."""
    try:
        found = target.access()
    except TargetError as exc:
        return "fail", f"{exc.code}: {exc}"
    if found is None:
        return None
    fine, message = found
    return ("ok" if fine else "warn"), message


__all__ = ["access_line", "identity_line", "sts_endpoint"]
