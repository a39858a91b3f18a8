from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rotation.generate import (
    BASE64URL_ALPHABET,
    DEFAULT_EXCLUDE,
    DEFAULT_LENGTH,
    DIGITS,
    HEX_ALPHABET,
    LOWERCASE,
    MAX_LENGTH,
    PUNCTUATION,
    SERVICE_RANDOM_LENGTH,
    UPPERCASE,
    Generator,
    Policy,
    PolicyError,
    PolicySet,
    ValueKind,
    generate,
    generate_values,
)
from rotation.ncp.models import RandomSecretOptions

FAST = settings(max_examples=200, deadline=None)

CAMEL = {
    "kind": "kind",
    "length": "length",
    "exclude_characters": "excludeCharacters",
    "exclude_numbers": "excludeNumbers",
    "exclude_punctuation": "excludePunctuation",
    "exclude_uppercase": "excludeUppercase",
    "exclude_lowercase": "excludeLowercase",
    "include_space": "includeSpace",
    "require_each_included_type": "requireEachIncludedType",
}


def as_camel(policy: Policy) -> dict[str, Any]:
    """The policy written the way the handler's ``policy`` parameter spells it."""
    return {camel: getattr(policy, attr) for attr, camel in CAMEL.items()}


@st.composite
def password_policies(draw: st.DrawFn, max_length: int = 64) -> Policy:
    exclude = draw(st.one_of(st.just(DEFAULT_EXCLUDE), st.text(string.printable, max_size=40)))
    try:
        return Policy(
            kind=ValueKind.PASSWORD,
            length=draw(st.integers(1, max_length)),
            exclude_characters=exclude,
            exclude_numbers=draw(st.booleans()),
            exclude_punctuation=draw(st.booleans()),
            exclude_uppercase=draw(st.booleans()),
            exclude_lowercase=draw(st.booleans()),
            include_space=draw(st.booleans()),
            require_each_included_type=draw(st.booleans()),
        )
    except PolicyError:
        assume(False)
        raise  # unreachable: assume(False) aborts the example


encoded_policies = st.builds(
    Policy,
    kind=st.sampled_from([ValueKind.HEX, ValueKind.BASE64URL]),
    length=st.integers(1, 128),
)
policies = st.one_of(password_policies(), encoded_policies)


# --- properties ------------------------------------------------------------------------------


@FAST
@given(policies)
def test_value_follows_its_policy(policy: Policy) -> None:
    value = generate(policy)
    assert len(value) == policy.length
    assert set(value) <= set(policy.alphabet())
    if policy.kind is ValueKind.PASSWORD:
        assert not set(value) & set(policy.exclude_characters)
        if policy.require_each_included_type:
            for chars in policy.classes():
                assert set(value) & set(chars)
        if not policy.include_space:
            assert " " not in value


@FAST
@given(policies)
def test_alphabet_is_the_union_of_disjoint_classes(policy: Policy) -> None:
    alphabet = policy.alphabet()
    assert len(set(alphabet)) == len(alphabet)
    if policy.kind is ValueKind.PASSWORD:
        assert alphabet == "".join(policy.classes())
        assert all(policy.classes())
        assert not set(alphabet) & set(policy.exclude_characters)
        assert (" " in alphabet) == (policy.include_space and " " not in policy.exclude_characters)
    else:
        assert policy.classes() == ()


@FAST
@given(policies)
def test_large_spaces_never_repeat(policy: Policy) -> None:
    assume(len(policy.alphabet()) ** policy.length >= 2**64)
    draws = [generate(policy) for _ in range(20)]
    assert len(set(draws)) == len(draws)


@FAST
@given(policies)
def test_camel_case_round_trip(policy: Policy) -> None:
    assert Policy().with_overrides(as_camel(policy)) == policy
    assert PolicySet.from_mapping(as_camel(policy)).default == policy


@FAST
@given(password_policies(max_length=SERVICE_RANDOM_LENGTH[1]))
def test_random_secret_options_mirror_the_policy(policy: Policy) -> None:
    assume(policy.length >= SERVICE_RANDOM_LENGTH[0])
    options = policy.to_random_secret_options()
    for attr in CAMEL:
        if attr != "kind":
            assert getattr(options, attr) == getattr(policy, attr)


def test_default_draws_are_unique() -> None:
    draws = {generate(Policy()) for _ in range(2000)}
    assert len(draws) == 2000


def test_hex_draws_are_unique() -> None:
    policy = Policy(kind=ValueKind.HEX, length=32)
    draws = {generate(policy) for _ in range(2000)}
    assert len(draws) == 2000


def test_default_characters_are_roughly_uniform() -> None:
    # 64,000 characters over 83 symbols: about 771 each, standard deviation about 28. The
    # bounds are ~8 sigma wide, so this catches a broken draw, not a statistical fluke.
    policy = Policy()
    counts = Counter("".join(generate(policy) for _ in range(2000)))
    expected = 2000 * DEFAULT_LENGTH / len(policy.alphabet())
    assert set(counts) == set(policy.alphabet())
    assert all(0.7 * expected < n < 1.3 * expected for n in counts.values())


# --- examples --------------------------------------------------------------------------------


def test_defaults() -> None:
    policy = Policy()
    assert policy.kind is ValueKind.PASSWORD
    assert policy.length == DEFAULT_LENGTH == 32
    assert policy.classes() == (
        UPPERCASE,
        LOWERCASE,
        DIGITS,
        "".join(c for c in PUNCTUATION if c not in DEFAULT_EXCLUDE),
    )
    for _ in range(50):
        value = generate(policy)
        assert len(value) == 32
        assert not set(value) & set(DEFAULT_EXCLUDE)
        assert " " not in value
        for chars in (UPPERCASE, LOWERCASE, DIGITS, PUNCTUATION):
            assert set(value) & set(chars)


def test_default_exclusions_are_the_documented_set() -> None:
    assert set(DEFAULT_EXCLUDE) == set("/@\"'\\:;`&+%")
    assert len(DEFAULT_EXCLUDE) == 11


@pytest.mark.parametrize("length", [1, 7, 32, 64, 1000])
def test_hex_format(length: int) -> None:
    value = generate(Policy(kind=ValueKind.HEX, length=length))
    assert re.fullmatch(f"[0-9a-f]{{{length}}}", value)


@pytest.mark.parametrize("length", [1, 22, 43, 1000])
def test_base64url_format(length: int) -> None:
    value = generate(Policy(kind=ValueKind.BASE64URL, length=length))
    assert re.fullmatch(f"[A-Za-z0-9_-]{{{length}}}", value)
    assert Policy(kind=ValueKind.BASE64URL).alphabet() == BASE64URL_ALPHABET


def test_max_length_is_allowed() -> None:
    assert len(generate(Policy(length=MAX_LENGTH))) == MAX_LENGTH
    assert Policy(kind=ValueKind.HEX).alphabet() == HEX_ALPHABET


def test_kind_given_as_text_becomes_the_enum() -> None:
    assert Policy(kind="hex").kind is ValueKind.HEX  # type: ignore[arg-type]


def test_space_only_when_included() -> None:
    policy = Policy(include_space=True, length=8)
    assert " " in policy.alphabet()
    assert policy.classes()[-1] == " "
    assert all(" " in generate(policy) for _ in range(20))


def test_without_require_each_an_emptied_class_is_dropped() -> None:
    policy = Policy(exclude_characters=DIGITS, require_each_included_type=False, length=2)
    assert len(policy.classes()) == 3
    assert not set(policy.alphabet()) & set(DIGITS)


def test_single_class() -> None:
    policy = Policy(
        exclude_uppercase=True, exclude_lowercase=True, exclude_punctuation=True, length=6
    )
    assert re.fullmatch(r"[0-9]{6}", generate(policy))


# --- policy errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"length": 0}, ["length", "4096"]),
        ({"length": MAX_LENGTH + 1}, ["length", "4096"]),
        ({"length": True}, ["length", "integer"]),
        ({"length": "32"}, ["length", "integer"]),
        ({"length": 3}, ["length 3", "requireEachIncludedType"]),
        ({"kind": "octal"}, ["kind", "'hex'"]),
        ({"exclude_characters": None}, ["excludeCharacters", "string"]),
        ({"exclude_numbers": "yes"}, ["excludeNumbers", "true or false"]),
        ({"exclude_characters": DIGITS}, ["numbers", "excludeCharacters", "excludeNumbers"]),
        ({"exclude_characters": UPPERCASE}, ["uppercase", "excludeUppercase"]),
        ({"exclude_characters": PUNCTUATION}, ["punctuation", "excludePunctuation"]),
        ({"include_space": True, "exclude_characters": " "}, ["space", "includeSpace"]),
        (
            {
                "exclude_numbers": True,
                "exclude_punctuation": True,
                "exclude_uppercase": True,
                "exclude_lowercase": True,
            },
            ["excludeNumbers", "excludeLowercase", "no characters left"],
        ),
        (
            {
                "exclude_uppercase": True,
                "exclude_lowercase": True,
                "exclude_punctuation": True,
                "exclude_characters": DIGITS,
                "require_each_included_type": False,
            },
            ["no characters left", "excludeCharacters"],
        ),
        (
            {"kind": ValueKind.HEX, "exclude_numbers": True},
            ["only length applies to hex values", "excludeNumbers"],
        ),
        ({"kind": ValueKind.HEX, "include_space": True}, ["hex", "includeSpace"]),
        (
            {"kind": ValueKind.HEX, "require_each_included_type": False},
            ["hex", "requireEachIncludedType"],
        ),
        (
            {"kind": ValueKind.BASE64URL, "exclude_characters": ""},
            ["only length applies to base64url values", "excludeCharacters"],
        ),
    ],
)
def test_invalid_policy(kwargs: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(**kwargs)
    assert info.value.code == "INVALID_POLICY"
    for name in names:
        assert name in str(info.value)


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


def test_length_may_equal_the_class_count() -> None:
    value = generate(Policy(length=4))
    assert len(value) == 4
    assert all(set(value) & set(c) for c in Policy(length=4).classes())


# --- with_overrides --------------------------------------------------------------------------


def test_with_overrides_reads_camel_case() -> None:
    policy = Policy().with_overrides(
        {
            "length": 40,
            "excludeCharacters": "xyz",
            "excludeNumbers": True,
            "excludePunctuation": True,
            "excludeUppercase": False,
            "excludeLowercase": False,
            "includeSpace": True,
            "requireEachIncludedType": False,
        }
    )
    assert policy == Policy(
        length=40,
        exclude_characters="xyz",
        exclude_numbers=True,
        exclude_punctuation=True,
        include_space=True,
        require_each_included_type=False,
    )


def test_with_overrides_keeps_what_it_does_not_set() -> None:
    base = Policy(length=20, exclude_numbers=True)
    assert base.with_overrides({"includeSpace": True}) == Policy(
        length=20, exclude_numbers=True, include_space=True
    )
    assert base.with_overrides({}) == base


def test_switching_to_hex_resets_class_knobs() -> None:
    base = Policy(exclude_numbers=True, exclude_characters="", include_space=True)
    policy = base.with_overrides({"kind": "hex", "length": 64})
    assert policy == Policy(kind=ValueKind.HEX, length=64)
    assert base.with_overrides({"kind": "base64url"}).length == base.length


def test_switching_to_hex_with_a_class_knob_is_an_error() -> None:
    with pytest.raises(PolicyError, match="excludeNumbers"):
        Policy().with_overrides({"kind": "hex", "excludeNumbers": True})


def test_unknown_key_is_named_with_the_allowed_keys() -> None:
    with pytest.raises(PolicyError) as info:
        Policy().with_overrides({"lenght": 10})
    message = str(info.value)
    assert "'lenght'" in message
    for key in CAMEL.values():
        assert key in message


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"length": "32"}, ["length", "integer", "str"]),
        ({"length": 32.0}, ["length", "integer"]),
        ({"length": False}, ["length", "integer", "bool"]),
        ({"excludeNumbers": "yes"}, ["excludeNumbers", "true or false"]),
        ({"includeSpace": 1}, ["includeSpace", "true or false"]),
        ({"excludeCharacters": ["a"]}, ["excludeCharacters", "string"]),
        ({"kind": 1}, ["kind", "string"]),
        ({"kind": "uuid"}, ["kind", "'password'", "'hex'", "'base64url'"]),
        ({"length": 0}, ["length"]),
    ],
)
def test_with_overrides_rejects_wrong_types(data: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        Policy().with_overrides(data)
    for name in names:
        assert name in str(info.value)


def test_with_overrides_needs_a_mapping() -> None:
    with pytest.raises(PolicyError, match="JSON object"):
        Policy().with_overrides([("length", 3)])  # type: ignore[arg-type]


# --- PolicySet ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, {}])
def test_empty_policy_set(data: dict[str, Any] | None) -> None:
    assert PolicySet.from_mapping(data) == PolicySet()
    base = Policy(length=20)
    policies = PolicySet.from_mapping(data, base=base)
    assert policies.default == base
    assert policies.generator is Generator.LOCAL
    assert policies.for_key("anything") == base


def test_per_key_overrides_the_default() -> None:
    policies = PolicySet.from_mapping(
        {
            "generator": "local",
            "length": 40,
            "excludeCharacters": "",
            "keys": {"apiKey": {"kind": "hex", "length": 64}, "pin": {"excludeUppercase": True}},
        },
        base=Policy(exclude_numbers=True),
    )
    assert policies.default == Policy(length=40, exclude_characters="", exclude_numbers=True)
    assert policies.for_key("password") is policies.default
    assert policies.for_key("apiKey") == Policy(kind=ValueKind.HEX, length=64)
    assert policies.for_key("pin") == Policy(
        length=40, exclude_characters="", exclude_numbers=True, exclude_uppercase=True
    )


def test_policy_set_keys_are_read_only() -> None:
    policies = PolicySet.from_mapping({"keys": {"a": {"length": 10}}})
    with pytest.raises(TypeError):
        policies.keys["b"] = Policy()  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ([1, 2], ["policy", "JSON object"]),
        ("length=3", ["policy", "JSON object"]),
        ({"lenght": 3}, ["'lenght'", "generator", "keys", "excludeCharacters"]),
        ({"generator": "aws"}, ["generator", "'local'", "'service'", "'service-random'"]),
        ({"generator": None}, ["generator", "string"]),
        ({"keys": ["apiKey"]}, ["keys", "JSON object"]),
        ({"keys": {"apiKey": 64}}, ["keys['apiKey']", "JSON object"]),
        ({"keys": {1: {}}}, ["keys", "strings"]),
        ({"keys": {"apiKey": {"size": 64}}}, ["keys['apiKey']", "'size'"]),
        ({"keys": {"apiKey": {"length": "64"}}}, ["keys['apiKey']", "length"]),
        (
            {"keys": {"apiKey": {"kind": "hex", "includeSpace": True}}},
            ["keys['apiKey']", "includeSpace"],
        ),
        ({"excludeNumbers": "no"}, ["excludeNumbers"]),
    ],
)
def test_invalid_policy_set(data: Any, names: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        PolicySet.from_mapping(data)
    for name in names:
        assert name in str(info.value)


def test_service_generator_takes_no_other_knob() -> None:
    policies = PolicySet.from_mapping({"generator": "service"})
    assert policies.generator is Generator.SERVICE
    assert not policies.keys
    with pytest.raises(PolicyError, match="'length'"):
        PolicySet.from_mapping({"generator": "service", "length": 20})
    with pytest.raises(PolicyError, match="'keys'"):
        PolicySet.from_mapping({"generator": "service", "keys": {}})
    with pytest.raises(PolicyError, match="keys"):
        PolicySet(generator=Generator.SERVICE, keys={"a": Policy()})


def test_service_random_generator_accepts_passwords_in_range() -> None:
    policies = PolicySet.from_mapping(
        {"generator": "service-random", "length": 5, "keys": {"b": {"length": 32}}}
    )
    assert policies.generator is Generator.SERVICE_RANDOM
    assert policies.default.length == 5
    assert policies.for_key("b").length == 32


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"length": 33}, ["length 33", "5..32"]),
        ({"length": 4}, ["length 4", "5..32"]),
        ({"keys": {"apiKey": {"length": 64}}}, ["keys['apiKey']", "length 64"]),
        ({"keys": {"apiKey": {"kind": "hex", "length": 32}}}, ["keys['apiKey']", "'hex'"]),
        ({"kind": "base64url", "length": 20}, ["'base64url'", "password"]),
    ],
)
def test_service_random_rules(data: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        PolicySet.from_mapping({"generator": "service-random", **data})
    for name in names:
        assert name in str(info.value)


def test_to_random_secret_options_maps_every_knob() -> None:
    policy = Policy(
        length=20,
        exclude_characters="abc",
        exclude_numbers=True,
        exclude_punctuation=True,
        include_space=True,
        require_each_included_type=False,
    )
    assert policy.to_random_secret_options() == RandomSecretOptions(
        length=20,
        exclude_characters="abc",
        exclude_numbers=True,
        exclude_punctuation=True,
        exclude_uppercase=False,
        exclude_lowercase=False,
        include_space=True,
        require_each_included_type=False,
    )
    # Our defaults, not the service's (12 characters, space included), go on the wire.
    body = Policy().to_random_secret_options().to_api()
    assert body["length"] == 32
    assert body["includeSpace"] is False
    assert body["excludeCharacters"] == DEFAULT_EXCLUDE


def test_to_random_secret_options_refuses_what_the_service_cannot_do() -> None:
    with pytest.raises(PolicyError, match="'hex'"):
        Policy(kind=ValueKind.HEX, length=16).to_random_secret_options()
    with pytest.raises(PolicyError, match="length 64"):
        Policy(length=64).to_random_secret_options()


# --- generate_values ---------------------------------------------------------------------------


def test_generate_values_returns_exactly_the_given_keys() -> None:
    policies = PolicySet.from_mapping({"keys": {"apiKey": {"kind": "hex", "length": 64}}})
    values = generate_values(("password", "apiKey"), policies)
    assert list(values) == ["password", "apiKey"]
    assert len(values["password"]) == 32
    assert re.fullmatch(r"[0-9a-f]{64}", values["apiKey"])
    assert generate_values([], policies) == {}
    assert list(generate_values(iter(["b", "a", "b"]), PolicySet())) == ["b", "a"]


def test_generate_values_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError, match="key names"):
        generate_values("password", PolicySet())


@FAST
@given(st.lists(st.text(min_size=1, max_size=10), max_size=10, unique=True))
def test_generate_values_keys_property(keys: list[str]) -> None:
    values = generate_values(keys, PolicySet())
    assert list(values) == keys
    assert all(len(v) == DEFAULT_LENGTH for v in values.values())
