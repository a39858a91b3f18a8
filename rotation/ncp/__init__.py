"""The NCP client: signed, retried, deadline-bounded HTTP and one client per NCP API.

The public surface is the names in ``__all__``, the way ``httpx`` exposes its client::

    from rotation.ncp import Credentials, SecretManagerClient, NotFound

Importing this package is cheap: the names are loaded from their modules on first use (a
module-level ``__getattr__``), so ``import rotation.ncp`` alone does not pull in
``requests`` and friends. A rotation action's cold start pays only for what it uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rotation.ncp.clouddb import CloudDbClient
    from rotation.ncp.cloudfunctions import CloudFunctionsClient
    from rotation.ncp.cloudfunctions_models import (
        Activation,
        FunctionAction,
        FunctionTrigger,
        TriggerLink,
    )
    from rotation.ncp.cloudinsight import CloudInsightClient
    from rotation.ncp.deadline import Deadline
    from rotation.ncp.errors import (
        ApiError,
        AuthenticationFailed,
        BadRequest,
        ClientError,
        DeadlineExceeded,
        Forbidden,
        InvalidState,
        NcpError,
        NotFound,
        RateLimited,
        ResponseFormatError,
        RetryableApiError,
        ServerError,
        TransportError,
    )
    from rotation.ncp.secretmanager import SecretManagerClient
    from rotation.ncp.signing import Credentials
    from rotation.ncp.transport import RetryPolicy, SignedTransport, Timeouts

_ERRORS = (
    "NcpError", "TransportError", "DeadlineExceeded", "ResponseFormatError", "ApiError",
    "ClientError", "BadRequest", "AuthenticationFailed", "Forbidden", "NotFound",
    "InvalidState", "RetryableApiError", "RateLimited", "ServerError",
)  # fmt: skip

#: Where each public name lives (the module under ``rotation.ncp``).
_HOME = {
    "SecretManagerClient": "secretmanager",
    "CloudFunctionsClient": "cloudfunctions",
    "CloudDbClient": "clouddb",
    "CloudInsightClient": "cloudinsight",
    "Activation": "cloudfunctions_models",
    "FunctionAction": "cloudfunctions_models",
    "FunctionTrigger": "cloudfunctions_models",
    "TriggerLink": "cloudfunctions_models",
    "Credentials": "signing",
    "Deadline": "deadline",
    "RetryPolicy": "transport",
    "SignedTransport": "transport",
    "Timeouts": "transport",
    **dict.fromkeys(_ERRORS, "errors"),
}

__all__ = [
    "Activation",
    "ApiError",
    "AuthenticationFailed",
    "BadRequest",
    "ClientError",
    "CloudDbClient",
    "CloudFunctionsClient",
    "CloudInsightClient",
    "Credentials",
    "Deadline",
    "DeadlineExceeded",
    "Forbidden",
    "FunctionAction",
    "FunctionTrigger",
    "InvalidState",
    "NcpError",
    "NotFound",
    "RateLimited",
    "ResponseFormatError",
    "RetryPolicy",
    "RetryableApiError",
    "SecretManagerClient",
    "ServerError",
    "SignedTransport",
    "Timeouts",
    "TransportError",
    "TriggerLink",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'rotation.ncp' has no attribute {name!r}")
    value = getattr(import_module(f"rotation.ncp.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
