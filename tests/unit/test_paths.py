"""The transport builds every path from its documented template: one place quotes ids."""

from __future__ import annotations

import pytest

import rotation.ncp.cloudfunctions as cf
import rotation.ncp.secretmanager as sm
from rotation.ncp.transport import expand_path


def test_each_value_becomes_exactly_one_quoted_segment() -> None:
    path = expand_path(
        "/action/v1/secrets/{secretId}/jobs/{jobToken}/start",
        {"secretId": "a/b?c d", "jobToken": "t%1#"},
    )
    assert path == "/action/v1/secrets/a%2Fb%3Fc%20d/jobs/t%251%23/start"


def test_a_template_without_placeholders_is_the_path() -> None:
    assert expand_path("/vmysql/v2/getCloudMysqlUserList") == "/vmysql/v2/getCloudMysqlUserList"


@pytest.mark.parametrize("bad", ["", ".", ".."])
def test_values_that_would_address_another_route_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="secretId must be a non-empty string"):
        expand_path("/api/v1/secrets/{secretId}", {"secretId": bad})


def test_every_placeholder_needs_a_value_and_every_value_a_placeholder() -> None:
    with pytest.raises(ValueError, match=r"no value for \{jobToken\}"):
        expand_path("/jobs/{jobToken}/start", {})
    with pytest.raises(ValueError, match="no placeholder for secretId") as info:
        expand_path("/api/v1/secrets", {"secretId": "value-never-shown-1"})
    assert "value-never-shown-1" not in str(info.value)


def test_no_client_keeps_its_own_quoting() -> None:
    for module in (cf, sm):
        assert not hasattr(module, "_seg")
        assert "quote" not in vars(module)
