"""Small immutable records, for the modules every cold start imports.

Why not dataclasses there: defining a dataclass writes its methods' source and compiles
it, 0.5-1.4 ms a class on Python 3.13, and the twenty on ``import handler``'s path were
half of what the action added to the import of its dependencies (``make bench``: cold
start). A ``typing.NamedTuple`` still costs 0.15-0.4 ms (each annotation, a string under
``from __future__ import annotations``, is compiled into a ``ForwardRef``), and it is a
tuple: the log redactor walks into tuples, so a record that holds a secret value must not
be one. A :class:`Record` costs about 0.01 ms.

A record lists its fields in ``__slots__`` and sets each once, in a typed ``__init__``
(``self.name: Final = name``: mypy refuses any later assignment). :class:`Record` gives it
what a frozen dataclass would generate: equality with a record of the same class, a hash,
and a ``repr`` naming every field (a record holding a secret overrides ``__repr__``).
Modules off the cold-start path (the CLI, deploy, the emulator) keep their dataclasses.
It lives in the NCP client because the client, which imports nothing else of the
project, has records of its own.
"""

from __future__ import annotations


class Record:
    """Equality, hash and ``repr`` over the fields a subclass lists in ``__slots__``."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
