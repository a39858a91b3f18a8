"""One stored credential as an application holds it: a stage of the chain, masked when printed.

An application passes credentials around (to a driver, a pool, a log call by mistake), so
the type that carries them must be safe wherever it lands: ``repr``, ``str`` and f-strings
show the stage and the key names, never a value. The value itself is reached only by
asking for it by name (``cred.password``, ``cred["host"]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rotation.ncp.models import SecretValue, Stage

#: The order the invariant guarantees after a refresh: the newly read active value is
#: what the target accepts once a job has ended; pending is what it may accept while a job
#: runs (single-user: the only one between set and complete); previous is what alternating
#: users and dual passwords keep accepting until the next rotation.
ORDER: tuple[Stage, ...] = (Stage.ACTIVE, Stage.PENDING, Stage.PREVIOUS)


class Credential:
    """One stage of a secret: its value (a JSON object) and where it sat in the chain.

    Two credentials are equal when their values are: the same password moving from
    pending to active is the same credential. ``generation`` counts the kit's reads of the
    chain (which read this came from), for the cache's bookkeeping.
    """

    __slots__ = ("_value", "generation", "stage")

    def __init__(self, value: SecretValue, stage: Stage, generation: int = 0) -> None:
        self._value = value
        self.stage = stage
        self.generation = generation

    @property
    def value(self) -> SecretValue:
        """The whole stored value (a masked mapping: host, port, username, password...)."""
        return self._value

    @property
    def username(self) -> str | None:
        item = self._value.get("username")
        return item if isinstance(item, str) else None

    @property
    def password(self) -> str:
        """The ``password`` key; a value without one is not a credential an app can use."""
        item = self._value.get("password")
        if not isinstance(item, str):
            raise KeyError(f"the {self.stage.path} value has no text 'password' key")
        return item

    def get(self, key: str, default: Any = None) -> Any:
        return self._value.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._value[key]

    def keys(self) -> Iterator[str]:
        return iter(sorted(self._value))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Credential):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Credential(stage={self.stage.path}, keys={sorted(self._value)!r}, values=<masked>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would write the value to wherever the pickle goes (a cache, a queue).
        raise TypeError("a Credential is not picklable: it holds a secret value")


def stages_of(
    chain: Mapping[Stage, SecretValue | None], generation: int
) -> dict[Stage, Credential]:
    """The chain's stages that hold a value, as credentials, in the invariant's order."""
    return {
        stage: Credential(value, stage, generation)
        for stage in ORDER
        if (value := chain.get(stage)) is not None
    }
