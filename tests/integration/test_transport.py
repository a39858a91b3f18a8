"""Error mapping, retries, deadlines and connection reuse, over real HTTP with faults
injected by the emulator (no mocked transport)."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulator import Emulator
from emulator.server import RequestRecord
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import (
    AuthenticationFailed,
    BadRequest,
    ClientError,
    DeadlineExceeded,
    Forbidden,
    InvalidState,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
)
from rotation.ncp.secretmanager import SecretManagerClient
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy, Timeouts, retry_after_wait
from tests.factories import FAST_RETRY, create_secret, started_job

NO_RETRY = RetryPolicy(attempts=1)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, AuthenticationFailed),
        (403, Forbidden),
        (404, NotFound),
        (413, ClientError),
        (422, InvalidState),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
def test_each_status_maps_to_its_error(emu: Emulator, status: int, error: type[Exception]) -> None:
    emu.faults.add("get_trigger_list", status=status)
    with emu.client(retry=NO_RETRY) as client, pytest.raises(error) as info:
        client.list_triggers()
    assert info.value.status == status  # type: ignore[attr-defined]
    assert info.value.operation == "get_trigger_list"  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(emu: Emulator, status: int) -> None:
    emu.faults.add("get_trigger_list", status=status, times=2)
    with emu.client(retry=FAST_RETRY) as client:
        assert client.list_triggers() == ()
    assert emu.stats.calls["get_trigger_list"] == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(emu: Emulator, status: int) -> None:
    emu.faults.add("get_trigger_list", status=status, times=3)
    with emu.client(retry=FAST_RETRY) as client, pytest.raises(ClientError):
        client.list_triggers()
    assert emu.stats.calls["get_trigger_list"] == 1


def test_wrong_secret_key_fails_once_without_retry(emu: Emulator) -> None:
    creds = Credentials(emu.access_key, "not-the-secret-key")
    with (
        SecretManagerClient(creds, endpoint=emu.endpoint, retry=FAST_RETRY) as client,
        pytest.raises(AuthenticationFailed) as info,
    ):
        client.list_secrets()
    assert info.value.code == "200"
    assert info.value.message == "Authentication Failed"
    assert emu.stats.calls["get_secret_list"] == 1


def test_dropped_connections_are_retried(emu: Emulator, client: SecretManagerClient) -> None:
    emu.faults.add("get_trigger_list", drop=True, times=2)
    assert client.list_triggers() == ()
    assert emu.stats.calls["get_trigger_list"] == 3


def test_retries_give_up_after_the_attempt_budget(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=503, times=10)
    with emu.client(retry=FAST_RETRY) as client, pytest.raises(ServerError):
        client.list_triggers()
    assert emu.stats.calls["get_trigger_list"] == FAST_RETRY.attempts


def test_connection_refused_is_a_transport_error(emu: Emulator) -> None:
    endpoint = emu.endpoint
    creds = emu.credentials
    emu.stop()
    with (
        SecretManagerClient(creds, endpoint=endpoint, retry=FAST_RETRY) as client,
        pytest.raises(TransportError) as info,
    ):
        client.list_triggers()
    assert "ConnectionError" in str(info.value)
    emu.start()  # so the fixture's teardown has something to stop


def test_each_attempt_is_signed_afresh(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=503, times=2)
    policy = RetryPolicy(attempts=3, wait_initial=0.02, wait_max=0.05, wait_jitter=0.0)
    with emu.client(retry=policy) as client:
        client.list_triggers()
    stamps = [r.timestamp for r in emu.stats.requests if r.operation == "get_trigger_list"]
    assert len(stamps) == 3
    assert len(set(stamps)) == 3, "each attempt must carry its own timestamp"
    assert stamps == sorted(stamps)


def test_retry_after_is_honoured(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=429, retry_after=0.3)
    with emu.client(retry=FAST_RETRY) as client:
        started = time.monotonic()
        client.list_triggers()
        assert time.monotonic() - started >= 0.3


def test_deadline_bounds_a_slow_answer(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", delay=2.0)
    with emu.client(retry=FAST_RETRY, deadline=Deadline.after(0.3)) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.list_triggers()
        assert time.monotonic() - started < 1.0


def test_no_retry_is_started_that_the_deadline_cannot_afford(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=503, times=5)
    policy = RetryPolicy(attempts=5, wait_initial=0.5, wait_max=1.0, min_attempt_time=0.5)
    with emu.client(retry=policy, deadline=Deadline.after(1.0)) as client:
        started = time.monotonic()
        with pytest.raises(ServerError):
            client.list_triggers()
        assert time.monotonic() - started < 1.0
    assert emu.stats.calls["get_trigger_list"] == 1


def test_an_expired_deadline_sends_nothing(emu: Emulator) -> None:
    with emu.client(deadline=Deadline.after(0)) as client, pytest.raises(DeadlineExceeded):
        client.list_triggers()
    assert emu.stats.calls["get_trigger_list"] == 0


def test_read_timeout_is_a_transport_error_and_retried(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", delay=0.5)
    with emu.client(retry=FAST_RETRY, timeouts=Timeouts(connect=1, read=0.2)) as client:
        assert client.list_triggers() == ()
    # the first attempt is still asleep in the emulator; count what arrived, not what finished
    assert [op for op, _ in emu.faults.injected] == ["get_trigger_list"]
    assert emu.stats.calls["get_trigger_list"] >= 1


def test_one_connection_serves_a_whole_session(emu: Emulator, client: SecretManagerClient) -> None:
    secret = create_secret(client)
    for _ in range(10):
        client.get_secret(secret.secret_id)
        client.get_secret_values(secret.secret_id)
    assert emu.stats.connections == 1


def test_lost_response_on_complete_then_the_second_call_is_refused(
    emu: Emulator, client: SecretManagerClient
) -> None:
    """The change happened but the answer never came: the retry meets a finished job."""
    sid, token = started_job(emu, client)
    client.update_pending_stage(sid, token, {"username": "app", "password": "next-1"})
    emu.faults.add("complete_rotation_job", lose_response=True)
    with pytest.raises(InvalidState):
        client.complete_rotation_job(sid, token)
    assert emu.stats.calls["complete_rotation_job"] == 2
    assert client.get_secret_values(sid).active == {"username": "app", "password": "next-1"}


def test_errors_carry_no_token_no_signature_no_value(
    emu: Emulator, client: SecretManagerClient
) -> None:
    sid, token = started_job(emu, client, value={"username": "app", "password": "pw-hidden-1"})
    errors: list[Exception] = []
    emu.faults.add("update_pending_stage", drop=True, times=10)
    with pytest.raises(TransportError) as dropped:
        client.update_pending_stage(sid, token, {"username": "app", "password": "pw-hidden-2"})
    errors.append(dropped.value)
    emu.faults.clear()
    with pytest.raises(BadRequest) as bad:
        client.update_pending_stage(sid, token, {"username": "x", "password": "pw-hidden-3"})
    errors.append(bad.value)
    creds = Credentials(emu.access_key, "wrong-secret-key-xyz")
    with (
        SecretManagerClient(creds, endpoint=emu.endpoint) as other,
        pytest.raises(AuthenticationFailed) as auth,
    ):
        other.start_rotation_job(sid, token)
    errors.append(auth.value)
    for error in errors:
        for text in (str(error), repr(error), str(error.__cause__), str(error.__context__)):
            assert token not in text
            assert "pw-hidden" not in text
            assert "wrong-secret-key-xyz" not in text
            assert "x-ncp-apigw-signature" not in text.lower()
        assert "{jobToken}" in str(error)


def test_fault_after_lets_the_first_requests_through(
    emu: Emulator, client: SecretManagerClient
) -> None:
    emu.faults.add("get_trigger_list", status=400, after=2)
    client.list_triggers()
    client.list_triggers()
    with pytest.raises(BadRequest):
        client.list_triggers()
    client.list_triggers()  # used up


def test_paths_are_built_from_templates_and_errors_show_the_template(
    emu: Emulator, client: SecretManagerClient
) -> None:
    with pytest.raises(ValueError, match="secretId"):
        client.get_secret("")
    assert emu.stats.calls["get_secret_detail"] == 0, "refused before anything was sent"
    with pytest.raises(NotFound) as info:
        client.get_secret("no/such?secret")
    assert emu.stats.calls["get_secret_detail"] == 1, "one quoted segment, the detail route"
    assert info.value.path == "/api/v1/secrets/{secretId}"
    assert "(GET /api/v1/secrets/{secretId})" in str(info.value)


# -- retries under load: jitter, Retry-After, the deadline ---------------------------------


def _retry_delays(emu: Emulator, operation: str) -> list[float]:
    """Per connection, the time from each error answer to the request that followed it."""
    by_connection: dict[int, list[RequestRecord]] = {}
    for record in emu.stats.requests:
        if record.operation == operation:
            by_connection.setdefault(record.connection, []).append(record)
    delays = []
    for records in by_connection.values():
        for failed, retried in itertools.pairwise(records):
            if failed.status >= 400:
                delays.append(retried.received - failed.answered)
    return delays


def _throttled_together(emu: Emulator, clients: int, policy: RetryPolicy) -> list[float]:
    """``clients`` clients, each on its own connection, all answered with the fault at once;
    every one must still succeed. The delays of their retries."""
    barrier = threading.Barrier(clients)

    def one() -> None:
        with emu.client(retry=policy) as client:
            barrier.wait(timeout=10)
            assert client.list_triggers() == ()

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(one) for _ in range(clients)]:
            future.result(timeout=30)
    return _retry_delays(emu, "get_trigger_list")


def test_retry_after_is_a_floor_and_clients_throttled_together_come_back_apart(
    emu: Emulator,
) -> None:
    emu.faults.add("get_trigger_list", status=429, retry_after=0.4, times=8)
    delays = _throttled_together(emu, 8, RetryPolicy(attempts=3, wait_jitter=0.05))
    assert len(delays) == 8
    assert min(delays) >= 0.4 - 0.01, "Retry-After is honoured as a minimum"
    low, high = retry_after_wait(0.4, RetryPolicy(wait_jitter=0.05))
    assert (low, high) == (0.4, 0.5)  # a quarter of Retry-After on top, as it exceeds 0.05
    assert max(delays) - min(delays) > 0.01, f"retries came back together: {delays}"


def test_backoff_without_retry_after_is_jittered(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=503, times=8)
    policy = RetryPolicy(attempts=3, wait_initial=0.05, wait_max=1.0, wait_jitter=0.2)
    delays = _throttled_together(emu, 8, policy)
    assert len(delays) == 8
    assert min(delays) >= 0.05 - 0.01
    assert max(delays) <= policy.backoff_bound(1) + 0.3  # the bound, plus a busy machine
    assert max(delays) - min(delays) > 0.01, f"retries came back together: {delays}"


def test_backoff_bound_grows_and_caps() -> None:
    policy = RetryPolicy(wait_initial=0.2, wait_max=2.0, wait_jitter=0.3)
    assert [round(policy.backoff_bound(n), 3) for n in (1, 2, 3, 4, 5)] == [
        0.5, 0.7, 1.1, 1.9, 2.0,
    ]  # fmt: skip


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(emu: Emulator) -> None:
    emu.faults.add("get_trigger_list", status=429, retry_after=5)
    with emu.client(retry=FAST_RETRY, deadline=Deadline.after(2.0)) as client:
        started = time.monotonic()
        with pytest.raises(RateLimited) as info:
            client.list_triggers()
        assert time.monotonic() - started < 1.0, "gave up at once instead of sleeping"
    assert info.value.retry_after == 5
    assert emu.stats.calls["get_trigger_list"] == 1


def test_random_faults_hit_about_their_share_and_retries_absorb_them(emu: Emulator) -> None:
    emu.faults.add_random("*", 0.3, status=429, retry_after=0.01, seed=12)
    emu.faults.add_random("*", 0.05, status=503)
    policy = RetryPolicy(attempts=10, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)
    with emu.client(retry=policy) as client:
        for _ in range(100):
            assert client.list_triggers() == ()
    statuses = [r.status for r in emu.stats.requests]
    assert statuses.count(200) == 100
    assert 15 <= statuses.count(429) <= 70  # 30 % of ~140 requests, loosely
    assert set(statuses) <= {200, 429, 503}
    with pytest.raises(ValueError, match="add up"):
        emu.faults.add_random("*", 0.7, status=500)


def test_a_throttled_call_gets_more_attempts_than_a_failing_one(emu: Emulator) -> None:
    """429 is a refusal with a time to come back, not a failure: it may take
    ``throttled_attempts``; a 5xx stops at ``attempts``; ``attempts=1`` means one."""
    emu.faults.add("get_trigger_list", status=429, retry_after=0.01, times=FAST_RETRY.attempts + 2)
    with emu.client(retry=FAST_RETRY) as client:
        assert client.list_triggers() == ()
    assert emu.stats.calls["get_trigger_list"] == FAST_RETRY.attempts + 3
    emu.faults.add(
        "get_trigger_list", status=429, retry_after=0.01, times=FAST_RETRY.throttled_attempts
    )
    with emu.client(retry=FAST_RETRY) as client, pytest.raises(RateLimited):
        client.list_triggers()
    emu.faults.clear()
    emu.stats.reset()
    emu.faults.add("get_trigger_list", status=429, retry_after=0.01)
    with emu.client(retry=NO_RETRY) as client, pytest.raises(RateLimited):
        client.list_triggers()
    assert emu.stats.calls["get_trigger_list"] == 1
