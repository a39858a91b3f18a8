"""Cloud Insight, the part a watchdog uses: custom schemas and the collector.

Documented, and enforced here (https://api.ncloud-docs.com/docs/en/management-cloudinsight):

C1 CreateCustomSchema, ``POST /cw_fea/real/cw/api/schema``, body ``{prodName, fields,
   useCustomResource?}`` (documented:
   https://api.ncloud-docs.com/docs/en/management-cloudinsight-createcustomschema). A
   field (FieldDto) has ``name`` and ``dataType``; a metric is STRING, INTEGER, FLOAT or
   LONG, a dimension STRING; at least one dimension must be the ID dimension
   (``isIdDimension``; the KO page's example spells it ``idDimension``: both are read)
   (documented: https://api.ncloud-docs.com/docs/en/common-apidatatype-cifielddto).
   Guesses: ``prodName`` must start with ``Custom/`` (the guide names custom products so);
   a second schema of the same name is refused (400); a field is a metric or a dimension,
   not both; names are 1-64 letters, digits and ``_``, unique. The answer is not
   documented: the schema as GetProductSchema shows it (a guess).
C2 GetProductSchema, ``GET /cw_fea/real/cw/api/schema?prodName=`` answers ``{cw_key,
   prodName, fields, useCustomResource}`` (documented:
   https://api-gov.ncloud-docs.com/docs/management-cloudinsight-getschema). An unknown
   name: 404 (a guess; the docs do not say).
C3 SendData, ``POST /cw_collector/real/data``, body ``{"cw_key", "data": {..} | [..]}``,
   answer ``{"result": "success", "dataId": -1, "message": ""}`` (documented:
   https://api.ncloud-docs.com/docs/en/management-cloudinsight-senddata). Records without
   ``cw_key`` are discarded (documented); here a missing or unknown ``cw_key`` is a 400,
   the strictest reading. Guesses, strict: a record holds only the schema's fields, with
   the ID dimension present and each value of its field's type (an INTEGER an int, not a
   bool); a record that breaks that refuses the whole request. Records are kept with the
   time they arrived (the emulator's clock), for tests to read (:attr:`received`).

Errors use the gateway's usual ``{"error": {...}}`` envelope (a guess: Cloud Insight's own
error bodies are not documented).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.core import Clock, bad_request, not_found
from emulator.router import Router

METRIC_TYPES = frozenset({"STRING", "INTEGER", "FLOAT", "LONG"})
FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
INTERVALS = frozenset({"Min1", "Min5", "Min30", "Hour2", "Day1"})
CALCULATIONS = frozenset({"COUNT", "SUM", "MAX", "MIN", "AVG"})


@dataclass
class Schema:
    prod_name: str
    cw_key: str
    fields: list[dict[str, Any]]
    use_custom_resource: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "cw_key": self.cw_key,
            "prodName": self.prod_name,
            "fields": [dict(f) for f in self.fields],
            "useCustomResource": self.use_custom_resource,
        }

    def id_dimension(self) -> str:
        return str(next(f["name"] for f in self.fields if _is_id(f)))


@dataclass(frozen=True)
class Received:
    cw_key: str
    prod_name: str
    at_ms: int
    record: Mapping[str, Any]


def _is_id(f: Mapping[str, Any]) -> bool:
    return bool(f.get("isIdDimension") or f.get("idDimension"))


def _check_field(raw: object, number: int) -> dict[str, Any]:
    where = f"fields[{number}]"
    if not isinstance(raw, Mapping):
        raise bad_request(f"{where} must be an object")
    name, kind = raw.get("name"), raw.get("dataType")
    if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
        raise bad_request(f"{where}.name must be 1-64 letters, digits or _")
    metric, dimension = bool(raw.get("metric")), bool(raw.get("dimension"))
    if metric == dimension:
        raise bad_request(f"{where} must be a metric or a dimension")
    if kind not in METRIC_TYPES or (dimension and kind != "STRING"):
        raise bad_request(
            f"{where}.dataType: a metric is STRING, INTEGER, FLOAT or LONG; a dimension STRING"
        )
    if _is_id(raw) and not dimension:
        raise bad_request(f"{where}: only a dimension can be the ID dimension")
    aggregations = raw.get("aggregations")
    valid = aggregations is None or (
        isinstance(aggregations, Mapping)
        and all(
            k in INTERVALS and isinstance(v, list) and set(v) <= CALCULATIONS
            for k, v in aggregations.items()
        )
    )
    if not valid:
        raise bad_request(f"{where}.aggregations: Min1..Day1 -> COUNT, SUM, MAX, MIN, AVG")
    return dict(raw)


class CloudInsightBackend:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.schemas: dict[str, Schema] = {}
        self.received: list[Received] = []

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def create_schema(self, body: Mapping[str, Any]) -> dict[str, Any]:
        prod = body.get("prodName")
        if not isinstance(prod, str) or not prod.startswith("Custom/") or len(prod) <= 7:
            raise bad_request("prodName must name a custom product: Custom/{Product Name}")
        raw_fields = body.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            raise bad_request("fields must list the schema's metrics and dimensions")
        fields = [_check_field(f, i) for i, f in enumerate(raw_fields)]
        names = [f["name"] for f in fields]
        if len(set(names)) != len(names):
            raise bad_request("two fields have the same name")
        if not any(f.get("dimension") and _is_id(f) for f in fields):
            raise bad_request("one dimension must be the ID dimension (isIdDimension)")
        if not any(f.get("metric") for f in fields):
            raise bad_request("a schema needs at least one metric")
        custom = body.get("useCustomResource", False)
        if not isinstance(custom, bool):
            raise bad_request("useCustomResource must be true or false")
        with self.lock:
            if prod in self.schemas:
                raise bad_request(f"a schema named {prod} already exists")
            schema = Schema(prod, secrets.token_hex(9), fields, custom)
            self.schemas[prod] = schema
            return schema.view()

    def get_schema(self, query: Mapping[str, str]) -> dict[str, Any]:
        prod = query.get("prodName")
        if not prod:
            raise bad_request("prodName is required")
        with self.lock:
            schema = self.schemas.get(prod)
        if schema is None or (query.get("cw_key") and query["cw_key"] != schema.cw_key):
            raise not_found(f"no schema named {prod}")
        return schema.view()

    def _schema_by_key(self, key: object) -> Schema:
        with self.lock:
            found = next((s for s in self.schemas.values() if s.cw_key == key), None)
        if found is None:
            raise bad_request("cw_key names no schema of this account")
        return found

    def send_data(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = body.get("cw_key")
        if not isinstance(key, str) or not key:
            raise bad_request("cw_key is required")
        schema = self._schema_by_key(key)
        data = body.get("data")
        records = [data] if isinstance(data, Mapping) else data
        if not isinstance(records, list) or not records:
            raise bad_request("data must be a record or a list of records")
        kinds = {f["name"]: f["dataType"] for f in schema.fields}
        id_name = schema.id_dimension()
        for number, record in enumerate(records):
            _check_record(record, number, kinds, id_name)
        now = self.now_ms()
        with self.lock:
            self.received += [Received(key, schema.prod_name, now, dict(r)) for r in records]
        return {"result": "success", "dataId": -1, "message": ""}

    def records(self, prod_name: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.prod_name == prod_name]


def _check_record(record: object, number: int, kinds: Mapping[str, str], id_name: str) -> None:
    where = f"data[{number}]"
    if not isinstance(record, Mapping):
        raise bad_request(f"{where} must be an object")
    unknown = sorted(str(k) for k in record if k not in kinds)
    if unknown:
        raise bad_request(f"{where}: {', '.join(unknown)} is not a field of the schema")
    if not isinstance(record.get(id_name), str) or not record[id_name]:
        raise bad_request(f"{where}: the ID dimension {id_name} is required")
    for name, value in record.items():
        kind = kinds[name]
        ok = (
            isinstance(value, str)
            if kind == "STRING"
            else isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind == "FLOAT"
            else isinstance(value, int) and not isinstance(value, bool)
        )
        if not ok:
            raise bad_request(f"{where}: {name} must be {kind}")


def cloud_insight_router(backend: CloudInsightBackend) -> Router:
    """Its own paths on the one server: they never overlap Secret Manager's or the others'."""
    r = Router(prefix="", envelope=lambda data: data)
    r.add("POST", "/cw_fea/real/cw/api/schema", "create_custom_schema",
          lambda q: backend.create_schema(q.json()))  # fmt: skip
    r.add("GET", "/cw_fea/real/cw/api/schema", "get_custom_schema",
          lambda q: backend.get_schema(q.query))  # fmt: skip
    r.add("POST", "/cw_collector/real/data", "send_data",
          lambda q: backend.send_data(q.json()))  # fmt: skip
    return r
