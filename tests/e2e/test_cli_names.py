"""A secret's name is accepted wherever its id is (issue 17: deploy takes names, the CLI
took ids only and answered a name with "secret does not exist", exit 3)."""

from __future__ import annotations

from emulator import Emulator
from rotation.ncp.secretmanager import SecretManagerClient
from tests.e2e.clirun import as_json, cli
from tests.factories import create_secret, unique_name
from tests.leaks import LeakGuard

VALUE = {"username": "app", "password": "names-initial-Pw-1"}


def test_every_secret_command_takes_a_name(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    trigger = emu.add_trigger(unique_name("t"), emu.handler_action(unique_name("rot")))
    name = unique_name("byname")
    sid = create_secret(
        client,
        value=dict(VALUE),
        secret_name=name,
        trigger_id=trigger.trigger_id,
        auto_rotation=True,
        auto_rotation_period=30,
    ).secret_id
    create_secret(client, value=dict(VALUE), secret_name=unique_name("other"))
    shown = cli(emu, leak_guard, "secret", "show", name, "--json")
    assert shown.returncode == 0, shown.stderr
    assert as_json(shown)["secretId"] == sid
    assert cli(emu, leak_guard, "secret", "values", name).returncode == 0
    checked = cli(emu, leak_guard, "check", name)
    assert checked.returncode == 0 and "all checks passed" in checked.stdout, checked.stdout
    rotated = cli(emu, leak_guard, "rotate", name, "--interval", "0.2", "--json")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert as_json(rotated)["secretId"] == sid and as_json(rotated)["outcome"] == "completed"
    assert client.get_secret_values(sid).previous == VALUE
    history = cli(emu, leak_guard, "history", name, "--json")
    assert history.returncode == 0 and as_json(history)["secretId"] == sid
    status = as_json(cli(emu, leak_guard, "status", name, "--json"))
    assert [row["secretId"] for row in status["secrets"]] == [sid]
    paused = cli(emu, leak_guard, "pause", name)
    assert paused.returncode == 0 and f"({sid}) is now off" in paused.stdout
    assert client.get_secret(sid).auto_rotation is False


def test_an_id_is_tried_as_an_id_without_a_list_call(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    sid = create_secret(client, value=dict(VALUE)).secret_id
    emu.stats.reset()
    assert cli(emu, leak_guard, "secret", "show", sid).returncode == 0
    assert "get_secret_list" not in emu.stats.calls
    missing = cli(emu, leak_guard, "secret", "show", "f" * 64)
    assert missing.returncode == 3 and "get_secret_list" not in emu.stats.calls


def test_an_unknown_name_is_not_known_and_not_repeated(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    create_secret(client, value=dict(VALUE))
    emu.stats.reset()
    result = cli(emu, leak_guard, "rotate", "noSuchSecret-1")
    assert result.returncode == 3, result.stderr
    assert "Secret Manager knows no secret with this id or name" in result.stderr
    assert "noSuchSecret-1" not in result.stderr + result.stdout
    assert set(emu.stats.calls) == {"get_secret_list"}  # looked up; nothing else called


def test_an_ambiguous_name_is_refused_with_the_candidates(
    emu: Emulator, client: SecretManagerClient, leak_guard: LeakGuard
) -> None:
    """The emulator keeps names unique (a guess, A14); NCP does not document that it does,
    so two secrets of one name are made here by renaming one."""
    name = unique_name("twin")
    first = create_secret(client, value=dict(VALUE), secret_name=name).secret_id
    second = create_secret(client, value=dict(VALUE)).secret_id
    emu.backend.secrets[second].name = name
    before = (client.get_secret(first), client.get_secret(second))
    refused = cli(emu, leak_guard, "pause", name)
    assert refused.returncode == 2, refused.stderr
    assert "2 secrets have this name, so it names none of them" in refused.stderr
    assert f"{name} ({first}, ENABLE)" in refused.stderr
    assert f"{name} ({second}, ENABLE)" in refused.stderr
    assert (client.get_secret(first), client.get_secret(second)) == before
    assert cli(emu, leak_guard, "secret", "show", second).returncode == 0  # the id decides
