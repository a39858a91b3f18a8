"""One masking rule for the CLI and the deployment plan, at every depth."""

from __future__ import annotations

import ast
from pathlib import Path

from rotation.display import masked_value
from rotation.ncp.models import SecretValue
from rotation.sensitive import MASK, is_sensitive_key, masked

ROOT = Path(__file__).resolve().parents[2]


def test_secret_looking_keys_are_masked_at_every_depth() -> None:
    plan = {
        "policy": {"length": 40},
        "target": {"kind": "postgresql", "admin": {"user": "root", "dbPassword": "x-1"}},
        "hooks": [{"url": "https://h", "authorization": "Bearer y"}, "plain"],
        "secretKey": {"nested": "z"},
        "secretId": "abc",
    }
    shown = masked(plan)
    assert shown["target"]["admin"] == {"user": "root", "dbPassword": MASK}
    assert shown["hooks"] == [{"url": "https://h", "authorization": MASK}, "plain"]
    assert shown["secretKey"] == MASK, "a hidden object is hidden whole"
    assert shown["secretId"] == "abc" and shown["policy"] == {"length": 40}
    assert plan["target"]["admin"]["dbPassword"] == "x-1", "the input is not changed"


def test_named_keys_are_masked_too_and_reveal_shows_everything() -> None:
    value = {"username": "app", "pin": "1234", "host": "db"}
    assert masked(value, also=["pin"]) == {"username": "app", "pin": MASK, "host": "db"}
    assert masked(value, also=["pin"], reveal=True) == value


def test_the_cli_display_uses_the_same_function() -> None:
    value = SecretValue({"username": "app", "password": "p-1", "token2": "t", "apiToken": "a"})
    assert masked_value(value, ["token2"]) == masked(dict(value), also=["token2"])
    assert masked_value(value, ["token2"]) == {
        "username": "app", "password": MASK, "token2": MASK, "apiToken": MASK,
    }  # fmt: skip


def test_key_names_are_judged_by_their_last_word() -> None:
    assert is_sensitive_key("dbPassword") and is_sensitive_key("job_token")
    assert not is_sensitive_key("secretId") and not is_sensitive_key("bySecretId")


def test_deploy_does_not_import_the_cli_display() -> None:
    for path in (ROOT / "deploy").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}  # fmt: skip
        assert "rotation.display" not in imported, path.name
