"""A local NCP Secret Manager (and the Cloud Functions side of its trigger) on real HTTP.

Never deployed. Tests, the demo and users' own local runs use it in place of NCP, which
cannot be reached from here. Layout, moto-style: ``models`` holds state and rules,
``routes``/``router``/``server``/``gateway`` the wire, ``actions``/``containers``/``actionloop``
(with ``compiler``, ``launcher``, ``runtime_python``) the action-loop runtime that runs a
rotation action, ``scheduler`` the clock, ``faults`` the misbehaviour on demand.
"""

from emulator.actions import Activation, CallableAction, Delivery, ProcessAction
from emulator.app import Emulator, wall_clock
from emulator.core import ServiceError
from emulator.faults import Fault, FaultPlan
from emulator.secretmanager.models import SecretManagerBackend

__all__ = [
    "Activation",
    "CallableAction",
    "Delivery",
    "Emulator",
    "Fault",
    "FaultPlan",
    "ProcessAction",
    "SecretManagerBackend",
    "ServiceError",
    "wall_clock",
]
