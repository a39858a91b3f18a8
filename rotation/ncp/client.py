"""What every NCP API client shares: one signed transport, its endpoint, and closing it.

Each API's client (Secret Manager, Cloud DB, Cloud Functions) adds one method per
documented operation on top; the connection, signing, retries, deadline and retry budget
live in the transport, so none of them repeats that plumbing. A client built without a
``budget`` gets a fresh one (:mod:`rotation.ncp.budget`); pass the invocation's to share it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from rotation.ncp.transport import SignedTransport

if TYPE_CHECKING:
    import requests

    from rotation.ncp.budget import RetryBudget
    from rotation.ncp.deadline import Deadline
    from rotation.ncp.signing import Credentials
    from rotation.ncp.transport import RetryPolicy, Timeouts


class ApiClient:
    """A session with one NCP API at one endpoint (host plus optional path prefix).
    ``endpoint`` defaults to the API's documented host (:attr:`DEFAULT_ENDPOINT`)."""

    #: The API's documented host, for clients built without an endpoint.
    DEFAULT_ENDPOINT: ClassVar[str | None] = None

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str | None = None,
        session: requests.Session | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        deadline: Deadline | None = None,
        budget: RetryBudget | None = None,
    ) -> None:
        endpoint = endpoint or self.DEFAULT_ENDPOINT
        if endpoint is None:
            raise TypeError(f"{type(self).__name__} needs an endpoint")
        self.transport = SignedTransport(
            endpoint,
            credentials,
            session=session,
            timeouts=timeouts,
            retry=retry,
            deadline=deadline,
            budget=budget,
        )

    @property
    def endpoint(self) -> str:
        return self.transport.base_url

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
