"""The one rule for a CA file a setting names (``sslRootCert``, a webhook's or an alert's
``caBundle``): checked when the setting is read, never at the first connection.

A missing, unreadable or non-PEM CA file used to surface only when a driver first opened
a TLS connection: after the rotation had written its pending value, as an unreachable
target or an internal error that named neither the setting nor the file. Here the file is
opened and loaded exactly as the TLS context will load it, so what passes here loads
there. Paths are not secret: messages name them (cut short when absurdly long).

A relative path names a file in the *action's folder*: the zip's root, where ``handler.py``
and ``rotation/`` are (the checkout's root when the code runs from one). That is how a CA
file reaches Cloud Functions: ``python -m deploy`` packs each CA file the configuration
names into the zip as ``certs/<sha256>.pem`` and writes that relative path into the
parameter (a path on the deploying machine means nothing inside the runtime). It is
resolved against this folder, never the process's working directory, so the check here
and the driver that later opens the file read the same file (:func:`resolve`).
"""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

#: Larger than any CA bundle (certifi's is about 300 KB); a bigger file is a wrong path.
MAX_CA_FILE_BYTES = 4 * 1024 * 1024
_SHOWN_PATH = 200
#: The action's folder (the zip's root): where a relative CA path is looked up.
ACTION_DIR = Path(__file__).resolve().parent.parent
#: Where deploy packs the CA files in the zip (deploy/certs.py).
PACKED_DIR = "certs"


def packed_cache() -> Path:
    """Where ``python -m deploy`` keeps a copy of each CA file it packs, by the same name
    (``<sha256>.pem``), so that ``rotation check`` on that machine, reading the deployed
    parameters, loads the very file the action has."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ncp-secret-rotator" / PACKED_DIR


def resolve(path: str) -> str:
    """``path`` as the TLS context must open it: an absolute path as it is, a relative one
    inside the action's folder (:data:`ACTION_DIR`); a packed file missing there (a checkout,
    not the zip) from deploy's copy (:func:`packed_cache`), when there is one."""
    if os.path.isabs(path):
        return path
    local = os.path.join(ACTION_DIR, path)
    if path.startswith(f"{PACKED_DIR}/") and not os.path.exists(local):
        kept = packed_cache() / path[len(PACKED_DIR) + 1 :]
        if kept.is_file():
            return str(kept)
    return local


def shown_path(path: str) -> str:
    """``path`` as messages quote it."""
    cut = path if len(path) <= _SHOWN_PATH else path[:_SHOWN_PATH] + "..."
    return repr(cut)


def _stat_problem(path: str) -> str | None:
    """What the file system says: it exists, is a regular file of a sane size."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "does not exist"
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return _unreadable(exc)
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not a PEM file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size > MAX_CA_FILE_BYTES:
        return f"is over {MAX_CA_FILE_BYTES // (1024 * 1024)} MiB: not a CA bundle"
    return None


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    return f"cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"


def _why(path: str) -> str | None:
    problem = _stat_problem(path)
    if problem is not None:
        return problem
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:  # before OSError: SSLError is one
        return "holds no PEM certificate (a CA bundle is PEM text: -----BEGIN CERTIFICATE-----)"
    except OSError as exc:
        return _unreadable(exc)
    return None


def ca_file_problem(setting: str, path: object) -> str | None:
    """Why the CA file ``setting`` names cannot be used, naming the setting and the path;
    ``None`` when it loads."""
    if not isinstance(path, str) or not path.strip():
        return f"{setting} must be the path of a PEM file (a CA certificate bundle)"
    why = _why(resolve(path))
    if why is None:
        return None
    if os.path.isabs(path):
        where = ""
    elif path.startswith(f"{PACKED_DIR}/"):
        where = (
            f" here ({ACTION_DIR}): python -m deploy packs such a CA file into the action's "
            f"zip and keeps a copy in {packed_cache()} on the machine it ran on; run "
            "python -m deploy --dry-run here to have it, or check from inside the action "
            "(dryRun)"
        )
    else:
        where = " (relative paths are read in the action's folder)"
    return f"{setting} {shown_path(path)} {why}{where}"


__all__ = [
    "ACTION_DIR",
    "MAX_CA_FILE_BYTES",
    "PACKED_DIR",
    "ca_file_problem",
    "packed_cache",
    "resolve",
    "shown_path",
]
