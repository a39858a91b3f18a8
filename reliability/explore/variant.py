"""What runs in a schedule: the product as it is, or a deliberately broken stand-in.

The explorer's own tests prove that its checks can fail: a workflow or a target broken
on purpose must be caught. A :class:`Variant` names the workflow class ``handler.main``
runs (``handler.Rotation`` for the length of a schedule) and wraps the target it builds.
The product variant changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rotation.targets.base import Target
from rotation.targets.database import DatabaseTarget
from rotation.workflow import Rotation


@dataclass(frozen=True)
class Variant:
    name: str = "product"
    #: The workflow class ``handler.main`` runs; ``None``: the product's.
    rotation: type[Rotation] | None = None
    #: Wraps the simulated database target the rotation builds; ``None``: as built.
    target: Callable[[DatabaseTarget], Target] | None = None

    def wrap_target(self, target: DatabaseTarget) -> Target:
        return target if self.target is None else self.target(target)


PRODUCT = Variant()
