"""NCP Secret Manager client: one method per documented operation, typed answers.

The 26 ``/api/v1`` operations manage secrets; the six ``/action/v1`` operations are the
"Secret Rotate Process Control" calls a rotation action makes with its job token. Every
method returns a model from :mod:`rotation.ncp.models` (or ``None`` for the calls whose
``data`` is documented as null) and raises only errors from :mod:`rotation.ncp.errors`.

Base URL: KR's regional host by default, ``https://ocapi-kr.ncloud.com/secretmanager``, where
every new secret lives (``rotation.ncp.hosts``: JPN's is ``ocapi-jp``; secrets made before
region-isolated keys stay on the global ``https://secretmanager.apigw.ntruss.com``). The
path prefix of ``endpoint`` becomes part of every path and every signature.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import requests

from rotation.ncp.client import ApiClient
from rotation.ncp.deadline import Deadline
from rotation.ncp.errors import ResponseFormatError
from rotation.ncp.hosts import default_endpoint
from rotation.ncp.models import (
    ProtectionKey,
    ProtectionKeyType,
    RandomSecretOptions,
    SecretChain,
    SecretDetail,
    SecretValue,
    Stage,
    StageValue,
)
from rotation.ncp.signing import Credentials
from rotation.ncp.transport import RetryPolicy, Timeouts

if TYPE_CHECKING:
    from rotation.ncp.admin_models import (
        CreateSecretRequest,
        EncryptedChain,
        EncryptedValue,
        KmsKey,
        LogPage,
        RotationSettings,
        SecretPage,
        SecretSummary,
        StatusChange,
        Trigger,
    )
    from rotation.ncp.budget import RetryBudget

DEFAULT_ENDPOINT = default_endpoint()
#: The operator's answer models (rotation.ncp.admin_models) are imported by the methods
#: that return them: a rotation never builds one, and each class costs cold-start time.

_SECRET = "/api/v1/secrets/{secretId}"
_JOB = "/action/v1/secrets/{secretId}/jobs/{jobToken}"


def _value_text(value: SecretValue | Mapping[str, Any] | str) -> str:
    if isinstance(value, SecretValue):
        return value.to_json()
    if isinstance(value, str):
        return value
    return SecretValue(value).to_json()


class SecretManagerClient(ApiClient):
    """A Secret Manager session: one kept-alive connection, signed and retried calls."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        session: requests.Session | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        deadline: Deadline | None = None,
        budget: RetryBudget | None = None,
    ) -> None:
        super().__init__(
            credentials,
            endpoint=endpoint,
            session=session,
            timeouts=timeouts,
            retry=retry,
            deadline=deadline,
            budget=budget,
        )

    def bounded(self, deadline: Deadline) -> SecretManagerClient:
        """This client, sharing its connection, with calls bounded by ``deadline`` too.

        The workflow runs its forward steps on a bounded twin so that a slow API cannot
        eat the reserve it keeps for rolling back and reporting.
        """
        twin = copy.copy(self)
        twin.transport = self.transport.bounded(deadline)
        return twin

    def at(self, endpoint: str) -> SecretManagerClient:
        """A new client for another host (its own connection), same keys, limits, deadline
        and retry budget: the regional and global hosts hold different secrets, and one
        invocation has one budget whichever host it talks to."""
        t = self.transport
        return SecretManagerClient(
            t.credentials,
            endpoint=endpoint,
            timeouts=t.timeouts,
            retry=t.retry,
            deadline=t.deadline,
            budget=t.budget,
        )

    # -- plumbing -----------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        method: str,
        template: str,
        *,
        secret_id: str | None = None,
        job_token: str | None = None,
        stage: Stage | None = None,
        query: Mapping[str, object] | None = None,
        body: object = None,
    ) -> Any:
        # The transport fills and quotes the template; a missing or empty id is refused there.
        given = {
            "secretId": secret_id,
            "jobToken": job_token,
            "stage": None if stage is None else stage.path,
        }
        payload = self.transport.request(
            operation,
            method,
            template,
            path_params={k: v for k, v in given.items() if v is not None},
            query=query,
            json_body=body,
        )
        if not isinstance(payload, Mapping) or payload.get("code") != "SUCCESS":
            raise ResponseFormatError("the answer lacks code SUCCESS", operation=operation)
        return payload.get("data")

    @staticmethod
    def _data(data: Any, operation: str) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise ResponseFormatError("the answer has no data object", operation=operation)
        return data

    # -- lookup -------------------------------------------------------------------------

    def list_secrets(self, page_no: int = 1) -> SecretPage:
        data = self._call("get_secret_list", "GET", "/api/v1/secrets", query={"pageNo": page_no})
        from rotation.ncp.admin_models import SecretPage  # noqa: PLC0415 - cold start

        return SecretPage.from_api(self._data(data, "get_secret_list"))

    def iter_secrets(self) -> Iterator[SecretSummary]:
        """Every secret, page after page."""
        page_no = 1
        while True:
            page = self.list_secrets(page_no)
            yield from page.secrets
            if page_no >= page.total_pages or not page.secrets:
                return
            page_no += 1

    def get_secret(self, secret_id: str) -> SecretDetail:
        data = self._call("get_secret_detail", "GET", _SECRET, secret_id=secret_id)
        return SecretDetail.from_api(self._data(data, "get_secret_detail"))

    def get_secret_values(self, secret_id: str) -> SecretChain:
        data = self._call("get_secret_value", "GET", f"{_SECRET}/values", secret_id=secret_id)
        return SecretChain.from_api(self._data(data, "get_secret_value"))

    def get_secret_stage_value(self, secret_id: str, stage: Stage) -> StageValue:
        data = self._call(
            "get_secret_stage_value",
            "GET",
            f"{_SECRET}/{{stage}}",
            secret_id=secret_id,
            stage=stage,
        )
        return StageValue.from_api(self._data(data, "get_secret_stage_value"), stage)

    def get_secret_logs(
        self,
        secret_id: str,
        *,
        keyword: str | None = None,
        page_no: int | None = None,
        page_size: int | None = None,
        timestamp_from: int | None = None,
        timestamp_to: int | None = None,
    ) -> LogPage:
        query = {
            "keyword": keyword,
            "pageNo": page_no,
            "pageSize": page_size,
            "timestampFrom": timestamp_from,
            "timestampTo": timestamp_to,
        }
        data = self._call(
            "get_secret_logs", "GET", f"{_SECRET}/logs", secret_id=secret_id, query=query
        )
        from rotation.ncp.admin_models import LogPage  # noqa: PLC0415 - cold start

        return LogPage.from_api(self._data(data, "get_secret_logs"))

    def list_triggers(self) -> tuple[Trigger, ...]:
        data = self._data(self._call("get_trigger_list", "GET", "/api/v1/triggers"), "triggers")
        items = data.get("triggerList") or []
        if not isinstance(items, list):
            raise ResponseFormatError("triggerList is not a list", operation="get_trigger_list")
        from rotation.ncp.admin_models import Trigger  # noqa: PLC0415 - cold start

        return tuple(Trigger.from_api(i) for i in items)

    def list_protection_keys(self) -> tuple[KmsKey, ...]:
        data = self._data(self._call("get_protection_key_list", "GET", "/api/v1/keys"), "keys")
        # data.keyList: https://api.ncloud-docs.com/docs/en/secretmanager-getprotectionkeylist
        items = data.get("keyList") or []
        if not isinstance(items, list):
            raise ResponseFormatError("keyList is not a list", operation="get_protection_key_list")
        from rotation.ncp.admin_models import KmsKey  # noqa: PLC0415 - cold start

        return tuple(KmsKey.from_api(i) for i in items if isinstance(i, Mapping))

    # -- create and update ----------------------------------------------------------------

    def create_secret(self, request: CreateSecretRequest) -> SecretDetail:
        data = self._call("create_secret", "POST", "/api/v1/secrets", body=request.to_api())
        return SecretDetail.from_api(self._data(data, "create_secret"))

    def update_secret_values(
        self,
        secret_id: str,
        *,
        previous: SecretValue | Mapping[str, Any] | str | None = None,
        active: SecretValue | Mapping[str, Any] | str | None = None,
        pending: SecretValue | Mapping[str, Any] | str | None = None,
    ) -> EncryptedChain:
        """Edit only the stages given; an empty string deletes that stage (documented)."""
        body = {
            name: _value_text(value)
            for name, value in (("previous", previous), ("active", active), ("pending", pending))
            if value is not None
        }
        if not body:
            raise ValueError("give at least one stage to update")
        data = self._call(
            "update_secret_value", "PUT", f"{_SECRET}/values", secret_id=secret_id, body=body
        )
        from rotation.ncp.admin_models import EncryptedChain  # noqa: PLC0415 - cold start

        return EncryptedChain.from_api(self._data(data, "update_secret_value"))

    def update_secret_stage_value(
        self, secret_id: str, stage: Stage, value: SecretValue | Mapping[str, Any] | str
    ) -> EncryptedValue:
        data = self._call(
            "update_secret_stage_value",
            "PUT",
            f"{_SECRET}/values/{{stage}}",
            secret_id=secret_id,
            stage=stage,
            body={"value": _value_text(value)},
        )
        from rotation.ncp.admin_models import EncryptedValue  # noqa: PLC0415 - cold start

        return EncryptedValue.from_api(self._data(data, "update_secret_stage_value"))

    def update_secret_memo(self, secret_id: str, memo: str) -> Mapping[str, Any]:
        data = self._call(
            "update_secret_memo",
            "PUT",
            f"{_SECRET}/memo",
            secret_id=secret_id,
            body={"memo": memo},
        )
        return dict(data) if isinstance(data, Mapping) else {}

    def update_protection_key(
        self,
        secret_id: str,
        key_type: ProtectionKeyType,
        *,
        kms_key_tag: str | None = None,
        kms_boundary_type: str | None = None,
    ) -> ProtectionKey:
        body: dict[str, Any] = {"protectionKeyType": str(key_type)}
        if kms_key_tag is not None:
            body["kmsKeyTag"] = kms_key_tag
        if kms_boundary_type is not None:
            body["kmsBoundaryType"] = kms_boundary_type
        data = self._data(
            self._call(
                "update_protection_key",
                "PUT",
                f"{_SECRET}/protection-key",
                secret_id=secret_id,
                body=body,
            ),
            "update_protection_key",
        )
        return ProtectionKey.from_api(self._data(data.get("protectionKey"), "protectionKey"))

    # -- status and deletion ----------------------------------------------------------------

    def _status(self, operation: str, suffix: str, secret_id: str) -> StatusChange:
        data = self._call(operation, "POST", f"{_SECRET}/{suffix}", secret_id=secret_id)
        from rotation.ncp.admin_models import StatusChange  # noqa: PLC0415 - cold start

        return StatusChange.from_api(self._data(data, operation))

    def enable_secret(self, secret_id: str) -> StatusChange:
        return self._status("enable_secret", "enable", secret_id)

    def disable_secret(self, secret_id: str) -> StatusChange:
        return self._status("disable_secret", "disable", secret_id)

    def request_secret_deletion(self, secret_id: str) -> StatusChange:
        return self._status("request_secret_deletion", "request-deletion", secret_id)

    def cancel_secret_deletion(self, secret_id: str) -> StatusChange:
        return self._status("cancel_secret_deletion", "cancel-deletion", secret_id)

    def delete_secret(self, secret_id: str) -> None:
        self._call("delete_secret", "DELETE", _SECRET, secret_id=secret_id)

    # -- rotation settings ----------------------------------------------------------------

    def _settings(
        self, operation: str, method: str, suffix: str, secret_id: str, body: object = None
    ) -> RotationSettings:
        data = self._call(operation, method, f"{_SECRET}/{suffix}", secret_id=secret_id, body=body)
        from rotation.ncp.admin_models import RotationSettings  # noqa: PLC0415 - cold start

        return RotationSettings.from_api(self._data(data, operation))

    def enable_auto_rotation(
        self, secret_id: str, *, rotation_period: int | None = None, trigger_id: str | None = None
    ) -> RotationSettings:
        body: dict[str, Any] = {}
        if rotation_period is not None:
            body["rotationPeriod"] = rotation_period
        if trigger_id is not None:
            body["triggerId"] = trigger_id
        return self._settings(
            "enable_auto_rotation", "POST", "enable-auto-rotation", secret_id, body
        )

    def disable_auto_rotation(self, secret_id: str) -> RotationSettings:
        return self._settings("disable_auto_rotation", "POST", "disable-auto-rotation", secret_id)

    def update_rotation_period(self, secret_id: str, rotation_period: int) -> RotationSettings:
        return self._settings(
            "update_rotation_period",
            "PUT",
            "rotation-period",
            secret_id,
            {"rotationPeriod": rotation_period},
        )

    def update_rotation_trigger(self, secret_id: str, trigger_id: str) -> RotationSettings:
        return self._settings(
            "update_rotation_trigger", "PUT", "triggers", secret_id, {"triggerId": trigger_id}
        )

    def delete_rotation_trigger(self, secret_id: str) -> None:
        self._call("delete_rotation_trigger", "DELETE", f"{_SECRET}/triggers", secret_id=secret_id)

    # -- rotation jobs, operator side -------------------------------------------------------

    def execute_rotation_job(self, secret_id: str) -> None:
        self._call("execute_rotation_job", "POST", f"{_SECRET}/rotation", secret_id=secret_id)

    def retry_rotation_job(self, secret_id: str) -> None:
        self._call("retry_rotation_job", "POST", f"{_SECRET}/retry-rotation", secret_id=secret_id)

    def cancel_rotation_job(self, secret_id: str) -> None:
        self._call("cancel_rotation_job", "POST", f"{_SECRET}/cancel-rotation", secret_id=secret_id)

    def rollback_rotation_job(self, secret_id: str) -> None:
        self._call(
            "rollback_rotation_job", "POST", f"{_SECRET}/rollback-rotation", secret_id=secret_id
        )

    # -- rotation jobs, action side (Secret Rotate Process Control) ------------------------

    def _job(
        self,
        operation: str,
        method: str,
        step: str,
        *,
        secret_id: str,
        job_token: str,
        body: object = None,
    ) -> Any:
        return self._call(
            operation,
            method,
            f"{_JOB}/{step}",
            secret_id=secret_id,
            job_token=job_token,
            body=body,
        )

    def start_rotation_job(self, secret_id: str, job_token: str) -> SecretChain:
        data = self._job(
            "start_rotation_job", "POST", "start", secret_id=secret_id, job_token=job_token
        )
        return SecretChain.from_api(self._data(data, "start_rotation_job"))

    def add_pending_stage(self, secret_id: str, job_token: str) -> SecretValue:
        """Let the service generate the rotation targets' new values."""
        data = self._job(
            "add_pending_stage", "POST", "pending", secret_id=secret_id, job_token=job_token
        )
        return self._pending(data, "add_pending_stage")

    def update_pending_stage(
        self, secret_id: str, job_token: str, value: SecretValue | Mapping[str, Any]
    ) -> SecretValue:
        data = self._job(
            "update_pending_stage",
            "PUT",
            "pending",
            secret_id=secret_id,
            job_token=job_token,
            body={"value": _value_text(value)},
        )
        return self._pending(data, "update_pending_stage")

    def _pending(self, data: Any, operation: str) -> SecretValue:
        text = self._data(data, operation).get("pending")
        if not isinstance(text, str):
            raise ResponseFormatError("the answer lacks the pending value", operation=operation)
        return SecretValue.parse(text, stage="pending")

    def generate_random_secret(
        self, secret_id: str, job_token: str, options: RandomSecretOptions | None = None
    ) -> str:
        opts = options or RandomSecretOptions()
        data = self._data(
            self._job(
                "generate_random_secret",
                "POST",
                "generate-random-secret",
                secret_id=secret_id,
                job_token=job_token,
                body=opts.to_api(),
            ),
            "generate_random_secret",
        )
        value = data.get("randomString")
        if not isinstance(value, str):
            raise ResponseFormatError(
                "the answer lacks randomString", operation="generate_random_secret"
            )
        return value

    def complete_rotation_job(self, secret_id: str, job_token: str) -> None:
        self._job(
            "complete_rotation_job", "POST", "complete", secret_id=secret_id, job_token=job_token
        )

    def fail_rotation_job(self, secret_id: str, job_token: str) -> None:
        self._job("fail_rotation_job", "POST", "fail", secret_id=secret_id, job_token=job_token)
