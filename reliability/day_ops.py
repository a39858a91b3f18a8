"""The operator's terminal for the day (``python -m reliability.day``): each command run as
its own process, exactly as typed, and the lines of its output that matter.

Credentials reach every command through the environment (``NCLOUD_ACCESS_KEY``,
``NCLOUD_SECRET_KEY``), never as flags, and Secret Manager's endpoint through
``NCLOUD_SECRET_MANAGER_ENDPOINT``, as the README's "Run it locally" has it. What is
printed goes through :meth:`Terminal.mask` first: a secret value would show as ``****``
(the day's leak check still fails on the raw output), and a 64-character secret id as its
first 8 characters.

The parsers at the end read what the operator reads (the text, not ``--json``): the day's
checks hold the product to what a person sees.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from reliability.day_world import World

ROOT = Path(__file__).resolve().parents[1]
#: How long one command may take: ``rotate`` waits for its job (a failure explained by the
#: activation record), never the 300 s of a job that does not end.
COMMAND_TIMEOUT = 240.0
#: The widest transcript line; longer ones end with an ellipsis.
WIDTH = 170
SECRET_ID = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass
class Ran:
    """One command as the operator ran it."""

    shown: str  # the command line, as printed
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    #: When it started (epoch seconds).
    started: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


Condenser = Callable[[Ran], list[str]]


@dataclass
class Terminal:
    world: World
    out: TextIO
    verbose: bool = False
    runs: list[Ran] = field(default_factory=list)
    #: Everything printed (the transcript), for the leak check.
    printed: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        emu = self.world.emu
        return {
            "PATH": os.environ.get("PATH", ""),
            "NCLOUD_ACCESS_KEY": emu.access_key,
            "NCLOUD_SECRET_KEY": emu.secret_key,
            "NCLOUD_SECRET_MANAGER_ENDPOINT": emu.endpoint,
            "COLUMNS": "200",
            # deploy keeps a copy of each CA file it packs for `check` on this machine:
            # in the day's own folder, not the operator's ~/.cache
            "XDG_CACHE_HOME": str(self.world.ops / "cache"),
        }

    # -- running ------------------------------------------------------------------------

    def run(
        self,
        module: str,
        *args: str,
        stdin: str | None = None,
        condense: Condenser | None = None,
        note: str = "",
    ) -> Ran:
        argv = [sys.executable, "-m", module, *args]
        shown = " ".join(["python -m", module, *args]) + (f"  {note}" if note else "")
        started, wall = time.monotonic(), time.time()
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env(), input=stdin, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT, check=False,
        )  # fmt: skip
        ran = Ran(shown, argv, done.returncode, done.stdout, done.stderr,
                  time.monotonic() - started, wall)  # fmt: skip
        self.runs.append(ran)
        self.emit(f"$ {shown}" + (f"  [{ran.seconds:.1f}s]" if self.verbose else ""))
        lines = ran.lines if self.verbose else (condense or everything)(ran)
        for line in lines:
            self.emit(f"  {line}")
        if ran.code != 0:
            self.emit(f"  (exit {ran.code})")
        return ran

    def rotation(self, *args: str, **kw: object) -> Ran:
        return self.run("rotation", *args, **kw)  # type: ignore[arg-type]

    # -- printing -----------------------------------------------------------------------

    def section(self, title: str) -> None:
        self.emit("")
        self.emit(f"== {title}")

    def say(self, text: str) -> None:
        self.emit(f"# {text}")

    def emit(self, line: str, *, cut: bool = True) -> None:
        """Print one line, masked; cut to :data:`WIDTH` unless ``cut`` is off (evidence)."""
        masked = self.mask(line)
        if cut and len(masked) > WIDTH and not self.verbose:
            masked = masked[: WIDTH - 1] + "…"
        self.printed.append(masked)
        print(masked, file=self.out, flush=True)

    def mask(self, text: str) -> str:
        for value in sorted(self.world.secret_values(), key=len, reverse=True):
            if len(value) >= 8:
                text = text.replace(value, "****")
        return SECRET_ID.sub(lambda m: m.group(0)[:8], text)


# -- what to show of each command ------------------------------------------------------------


def everything(ran: Ran) -> list[str]:
    return ran.lines


def matching(*words: str) -> Condenser:
    """The lines holding any of ``words``."""
    return lambda ran: [line for line in ran.lines if any(w in line for w in words)]


def check_lines(ran: Ran) -> list[str]:
    """``check``: what is not plainly ok, and the verdict."""
    return [line for line in ran.lines if not line.startswith(("ok ", "skip "))]


def job_lines(ran: Ran) -> list[str]:
    """``rotate``/``retry``/``resume``: the outcome, code, message, what to do, warnings;
    not the action's log lines (the day's checks read them)."""
    keep: list[str] = []
    in_log = False
    for line in ran.lines:
        if line.startswith("log ("):
            in_log = True
            continue
        if in_log and line.startswith("  ") and not line.startswith(("  code", "  warning")):
            continue
        in_log = False
        if line.lstrip().startswith((*PROGRESS, "{")):
            continue  # progress lines, and the log lines of an action run here (resume)
        keep.append(line)
    return keep


#: Progress lines on stderr (one per phase change), not worth a transcript line.
PROGRESS = ("day-maria:", "day-pg:", "day-redis:", "day-store:")


def history_lines(newest: int) -> Condenser:
    """``history``: the header and the ``newest`` jobs."""

    def pick(ran: Ran) -> list[str]:
        rows = ran.lines
        return rows[1 : 2 + newest] if len(rows) > 1 else rows

    return pick


def status_lines(*names: str) -> Condenser:
    """``status``: the header, the rows and notes of ``names``, the summary."""

    def pick(ran: Ran) -> list[str]:
        lines = ran.lines
        if not names:
            return lines
        keep = lines[:1]
        keep += [line for line in lines[1:] if line.split(" ", 1)[0].rstrip(":") in names]
        keep += [line for line in lines if "need" in line and "attention" in line]
        return keep

    return pick


# -- reading what the operator read ----------------------------------------------------------


@dataclass
class JobShown:
    """What ``rotate``/``retry``/``resume`` said about a job."""

    outcome: str  # done | FAILED | left running | resumed | ?
    job: str | None
    code: str | None
    advice: str | None
    #: Each warning's code and its "what to do".
    warnings: dict[str, str]


FINGERPRINT = re.compile(r"\bjob ([0-9a-f]{12})\b")


def parse_job(ran: Ran) -> JobShown:
    text = ran.stdout
    first = text.splitlines()[0] if text.strip() else ""
    outcome = "?"
    if "FAILED" in first:
        outcome = "FAILED"
    elif " done " in first or first.startswith("resumed "):
        outcome = "done"
    found = FINGERPRINT.search(text)
    code = _field(text, "code:")
    advice = None
    warnings: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        after_warning = index > 0 and lines[index - 1].strip().startswith("warning ")
        if stripped.startswith("what to do:") and advice is None and code and not after_warning:
            advice = stripped.removeprefix("what to do:").strip()
        if stripped.startswith("warning ") and ":" in stripped:
            wcode = stripped.removeprefix("warning ").split(":", 1)[0].strip()
            nxt = lines[index + 1].strip() if index + 1 < len(lines) else ""
            warnings[wcode] = nxt.removeprefix("what to do:").strip()
    if "left running" in text or "leftForRetry" in text:
        outcome = "left running" if outcome != "done" else outcome
    return JobShown(outcome, found.group(1) if found else None, code, advice, warnings)


def _field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(name):
            value = stripped.removeprefix(name).strip().split(" ", 1)[0]
            return value or None
    return None


@dataclass(frozen=True)
class HistoryRow:
    when: str
    triggered: str
    outcome: str
    code: str
    warn: str
    job: str


def parse_history(ran: Ran) -> list[HistoryRow]:
    rows: list[HistoryRow] = []
    lines = ran.stdout.splitlines()
    for index, line in enumerate(lines):
        if line.split()[:2] == ["WHEN", "TRIGGERED"]:
            for row in lines[index + 1 :]:
                cells = row.split()
                if len(cells) == 6:
                    rows.append(HistoryRow(*cells))
            break
    return rows


@dataclass
class StatusRow:
    verdict: str
    notes: list[str]


def parse_status(ran: Ran, names: Iterable[str]) -> dict[str, StatusRow]:
    found: dict[str, StatusRow] = {}
    lines = ran.stdout.splitlines()
    wanted = set(names)
    for line in lines[1:]:
        head = line.split(" ", 1)[0]
        if head in wanted and head not in found:
            found[head] = StatusRow(_verdict(line), [])
        elif head.rstrip(":") in wanted and head.endswith(":"):
            found.setdefault(head.rstrip(":"), StatusRow("?", [])).notes.append(line)
    return found


VERDICTS = ("auto rotation off", "left running", "rotating", "overdue", "disabled", "failed",
            "warn", "ok")  # fmt: skip


def _verdict(line: str) -> str:
    for verdict in VERDICTS:
        if line.rstrip().endswith(verdict):
            return verdict
    return "?"
