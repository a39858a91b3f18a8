"""CA files named in the configuration travel inside the zip.

A database target's ``sslRootCert``, a webhook target's or a notify webhook's ``caBundle``
is a path. The configuration names it on the deploying machine, but the action runs in
Cloud Functions, where that path does not exist: every rotation used to end before the job
was touched. So deploy reads each CA file the parameters name (refusing, exit 2, one it
cannot read, one that holds no PEM certificate, and one that holds a private key, naming
the setting and the path), packs it into the zip as ``certs/<sha256>.pem`` and gives the
action that relative path instead, which :func:`rotation.cafiles.resolve` finds in the
action's folder (the zip's root).

Why the zip rather than the PEM text in the parameters:

* **One file per content, shared by the fleet.** Entries are named by their SHA-256, so a
  CA used by forty secrets is packed once; PEM text would be repeated under every
  secret's ``bySecretId`` entry and sent with every activation.
* **Size.** A CA bundle can be hundreds of KB (certifi's is about 300 KB). The zip has
  38 MB and the CA files add little; action parameters are meant to be small (OpenWhisk
  caps their total size), are printed in the plan and returned by every Get Action.
* **Drivers take files.** pg8000, PyMySQL, redis-py and requests load a CA *file*; PEM
  text would have to be written to a temporary file in every container at run time.
* **Reproducibility kept.** The zip of a commit (``make package``, ``--zip``) stays what it
  was; deploy adds the CA files in memory with the zip's own conventions (sorted entries,
  fixed timestamps and permissions), so the uploaded zip is a function of the commit and
  the CA files' contents, and its SHA-256 (in the action's description) changes, and the
  code is uploaded again, exactly when a CA file does.

A relative path in the configuration is read from the directory deploy runs in. The
parameter the action receives is ``certs/<sha256>.pem``; the plan lists each file packed.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rotation.cafiles import PACKED_DIR, ca_file_problem, packed_cache

#: The parameter keys that name a CA file, wherever they sit in the parameters.
CA_KEYS = frozenset({"caBundle", "sslRootCert"})
CERTS_DIR = PACKED_DIR

_EPOCH = (1980, 1, 1, 0, 0, 0)  # deploy/package.py's conventions
_FILE_MODE = (stat.S_IFREG | 0o644) << 16
_CREATE_SYSTEM_UNIX = 3
_COMPRESS_LEVEL = 9


class CaFileError(ValueError):
    """A CA file the configuration names cannot travel; the message names the setting and
    the path (deploy turns it into its ConfigError, exit 2)."""


class ZipError(ValueError):
    """The zip cannot take the CA files (not a zip, a different file under the same name,
    over the size limit)."""


@dataclass(frozen=True)
class Packed:
    """One configured CA file: where the configuration names it and what the zip holds."""

    setting: str
    #: As the configuration gives it, and as this machine reads it (absolute).
    path: str
    local: str
    entry: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class CaFiles:
    """Every CA file the configuration names, read and ready to pack."""

    files: tuple[Packed, ...] = ()

    @property
    def entries(self) -> dict[str, bytes]:
        """The zip entries to add: ``certs/<sha256>.pem`` to the file's bytes."""
        return {f.entry: f.data for f in self.files}

    def rewrite(self, item: Any) -> Any:
        """``item`` (parameters) with every configured CA path replaced by its entry: what
        the action receives."""
        return _replace(item, {f.path: f.entry for f in self.files})

    def localized(self, item: Any) -> Any:
        """``item`` with every configured CA path made absolute: what deploy checks with the
        handler's rules here (which read a relative path in the action's folder)."""
        return _replace(item, {f.path: f.local for f in self.files})


def collect(sources: Iterable[tuple[str, Any]]) -> CaFiles:
    """Read every CA file the parameter trees ``sources`` (``(where, tree)``) name.

    Raises :class:`CaFileError` for the first that cannot travel. A path named by several
    settings is read once (and listed under the first)."""
    files: dict[str, Packed] = {}
    for where, tree in sources:
        for setting, value in _named(tree, [where]):
            if not (isinstance(value, str) and value in files):
                packed = _read(setting, value)
                files[packed.path] = packed
                _keep(packed)
    return CaFiles(tuple(files.values()))


def _keep(packed: Packed) -> None:
    """Keep a copy where ``rotation check`` on this machine finds it (content-addressed:
    the same bytes, the same name; best effort, a read-only home only loses the check)."""
    kept = packed_cache() / packed.entry.split("/", 1)[1]
    try:
        if not kept.is_file():
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_bytes(packed.data)
    except OSError:
        pass


def _named(item: Any, where: list[str]) -> Iterator[tuple[str, Any]]:
    """``(setting, value)`` for every CA key in ``item``, at any depth."""
    if isinstance(item, Mapping):
        for key, value in item.items():
            if key in CA_KEYS:
                yield _label([*where, str(key)]), value
            else:
                yield from _named(value, [*where, str(key)])
    elif isinstance(item, list):
        for number, value in enumerate(item):
            yield from _named(value, [*where[:-1], f"{where[-1]}[{number}]"])


def _label(parts: list[str]) -> str:
    head, *rest = parts
    return f"{head} {'.'.join(rest)}" if rest else head


def _read(setting: str, value: object) -> Packed:
    if not isinstance(value, str) or not value.strip():
        problem = ca_file_problem(setting, value)
        raise CaFileError(problem or f"{setting} must be the path of a PEM file")
    path = os.path.abspath(value)  # absolute: rotation.cafiles reads relative ones elsewhere
    problem = ca_file_problem(setting, path)
    if problem is not None:
        raise CaFileError(f"{problem}; deploy packs the file into the zip, so it must be "
                          "readable here")  # fmt: skip
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CaFileError(f"{setting} {path!r} cannot be read ({exc.strerror})") from None
    if b"PRIVATE KEY-----" in data:
        raise CaFileError(
            f"{setting} {path!r} holds a private key: it would be packed into the zip for "
            "anyone who can read the action; give a file with the CA certificates only"
        )
    entry = f"{CERTS_DIR}/{hashlib.sha256(data).hexdigest()}.pem"
    return Packed(setting=setting, path=value, local=path, entry=entry, data=data)


def _replace(item: Any, paths: Mapping[str, str]) -> Any:
    if isinstance(item, Mapping):
        return {
            key: paths.get(value, value)
            if key in CA_KEYS and isinstance(value, str)
            else _replace(value, paths)
            for key, value in item.items()
        }
    if isinstance(item, list):
        return [_replace(value, paths) for value in item]
    return item


def entries_named(item: Any) -> set[str]:
    """The ``certs/...`` entries a (deployed) parameter tree names."""
    return {
        value
        for _, value in _named(item, ["-"])
        if isinstance(value, str) and value.startswith(f"{CERTS_DIR}/")
    }


def with_entries(zip_bytes: bytes, entries: Mapping[str, bytes], limit: int) -> bytes:
    """``zip_bytes`` with ``entries`` added (the zip itself when there are none).

    Existing entries are rewritten in order with their own names, times and modes; the new
    ones follow, sorted, with deploy/package.py's fixed time and mode: the same inputs
    give the same bytes."""
    if not entries:
        return zip_bytes
    try:
        source = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except zipfile.BadZipFile:
        raise ZipError("the action zip is not a zip file") from None
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w") as target:
        present = set(source.namelist())
        for info in source.infolist():
            target.writestr(
                info, source.read(info), compress_type=info.compress_type,
                compresslevel=_COMPRESS_LEVEL,
            )  # fmt: skip
        for name in sorted(entries):
            if name in present:
                if source.read(name) != entries[name]:
                    raise ZipError(f"the zip already holds a different {name}")
                continue
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = _CREATE_SYSTEM_UNIX
            info.external_attr = _FILE_MODE
            target.writestr(
                info, entries[name], compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=_COMPRESS_LEVEL,
            )  # fmt: skip
    data = out.getvalue()
    if len(data) > limit:
        raise ZipError(
            f"the zip with its CA files is {len(data)} bytes, over the Cloud Functions code "
            f"limit of {limit} bytes: name smaller CA files"
        )
    return data
