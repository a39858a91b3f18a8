"""NCP Cloud Insight: a custom schema and the collector, for the watchdog's counts.

Three documented calls on ``https://cw.apigw.ntruss.com``, signed like every NCP call:

* GetProductSchema, ``GET /cw_fea/real/cw/api/schema?prodName=Custom/...`` answers
  ``{cw_key, prodName, fields, useCustomResource}``
  (https://api-gov.ncloud-docs.com/docs/management-cloudinsight-getschema).
* CreateCustomSchema, ``POST /cw_fea/real/cw/api/schema`` with ``{prodName, fields}``; a
  field is a metric or a dimension, and at least one dimension must be the ID dimension
  (``isIdDimension``), which event rules key on
  (https://api.ncloud-docs.com/docs/en/management-cloudinsight-createcustomschema,
  https://api.ncloud-docs.com/docs/en/common-apidatatype-cifielddto). The answer's shape
  is not documented: a ``cw_key`` in it is used, else the schema is read back.
* SendData, ``POST /cw_collector/real/data`` with ``{"cw_key", "data": [records]}``;
  records without the key are discarded; the answer is
  ``{"result": "success", "dataId": -1, "message": ""}``
  (https://api.ncloud-docs.com/docs/en/management-cloudinsight-senddata).

A schema that does not exist: the docs do not say how GetProductSchema answers. A 404, or
an answer without ``cw_key``, is read as "no such schema" (a guess; the emulator answers
404). Alerts come from event rules on a metric (no direct event push is documented): the
README shows the rule for the watchdog's counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rotation.ncp.client import ApiClient
from rotation.ncp.errors import ApiError, NotFound, ResponseFormatError

DEFAULT_ENDPOINT = "https://cw.apigw.ntruss.com"
_SCHEMA = "/cw_fea/real/cw/api/schema"
_DATA = "/cw_collector/real/data"
#: Records per SendData call. No limit is documented; the collector takes an array, and a
#: hundred small records keep one body near 20 KB (a guess at a safe size).
BATCH = 100


@dataclass(frozen=True)
class CustomSchema:
    prod_name: str
    cw_key: str
    fields: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_api(cls, data: object) -> CustomSchema | None:
        """The schema, or ``None`` when the answer names no ``cw_key``."""
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, Mapping):
            return None
        key = data.get("cw_key") or data.get("cwKey")
        if not isinstance(key, str) or not key:
            return None
        fields = data.get("fields")
        return cls(
            prod_name=str(data.get("prodName") or ""),
            cw_key=key,
            fields=tuple(f for f in fields if isinstance(f, Mapping))
            if isinstance(fields, list)
            else (),
        )


class CloudInsightClient(ApiClient):
    """Cloud Insight's schema and collector calls."""

    def get_schema(self, prod_name: str) -> CustomSchema | None:
        try:
            data = self.transport.request(
                "get_custom_schema", "GET", _SCHEMA, query={"prodName": prod_name}
            )
        except NotFound:
            return None
        except ApiError as exc:
            if exc.status == 400 and "exist" in str(exc).lower():
                return None
            raise
        return CustomSchema.from_api(data)

    def create_schema(self, prod_name: str, fields: Sequence[Mapping[str, Any]]) -> CustomSchema:
        """Create the schema and return it with its ``cw_key`` (read back if the answer
        does not carry it)."""
        data = self.transport.request(
            "create_custom_schema", "POST", _SCHEMA,
            json_body={"prodName": prod_name, "fields": [dict(f) for f in fields]},
        )  # fmt: skip
        made = CustomSchema.from_api(data)
        if made is None:
            made = self.get_schema(prod_name)
        if made is None:
            raise ResponseFormatError(
                "the schema was created but no cw_key can be read back",
                operation="create_custom_schema",
            )
        return made

    def send_data(self, cw_key: str, records: Sequence[Mapping[str, Any]]) -> int:
        """Send ``records`` in batches of :data:`BATCH`; the number of calls made."""
        calls = 0
        for first in range(0, len(records), BATCH):
            batch = [dict(r) for r in records[first : first + BATCH]]
            answer = self.transport.request(
                "send_data", "POST", _DATA, json_body={"cw_key": cw_key, "data": batch}
            )
            calls += 1
            result = answer.get("result") if isinstance(answer, Mapping) else None
            if result != "success":
                raise ResponseFormatError(
                    f"the collector answered result {str(result)[:40]!r}, not success",
                    operation="send_data",
                )
        return calls
