"""One isolated environment per stack, built once and kept in a cache.

An environment is a virtualenv with the harness installed from this checkout
(editable, so it runs the checkout's own code and finds ``target_app/`` and
``conformance/``), the harness's dependencies at the versions pinned in
requirements.lock, and the stack's pins instead of those pins. It is built
with ``uv`` when uv is available (much faster), else ``python -m venv`` and
pip, into a temporary folder beside its final place and renamed there only
when complete: an install that fails, or Ctrl-C, leaves nothing behind, and a
build folder left by a killed run is removed by the next one. The cache key
covers the pins, the Python, the checkout's path, pyproject.toml's
dependencies and requirements.lock, so a cached environment is reused exactly
when it would be built the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from packaging.requirements import InvalidRequirement, Requirement

from channels_harness.errors import UsageError
from channels_harness.experiments.versions.matrix import Pin, Stack, canonical
from channels_harness.runtime.paths import PROJECT_DIR
from channels_harness.runtime.procgroup import spawn, stop_group
from channels_harness.runtime.timeouts import scaled

CACHE_VARIABLE = "CHANNELS_HARNESS_ENV_CACHE"
INSTALLERS = ("auto", "uv", "pip")
BUILD_TIMEOUT_S = 900.0
STAMP = "harness-env.json"
_BUILD_PREFIX = ".build-"
# Prints the tracked versions, and those of the distributions named on its command line.
_VERSIONS_SCRIPT = """
import importlib.metadata as m, json, sys
from channels_harness.runtime.environment import versions
found = versions()
for name in sys.argv[1:]:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = "not installed"
print(json.dumps(found))
"""

Say = Callable[[str], None]
_CAUSE = ("cause:", "╰─▶")


def default_cache() -> Path:
    """``$CHANNELS_HARNESS_ENV_CACHE``, else ``$XDG_CACHE_HOME/channels-harness/envs``
    (``~/.cache/channels-harness/envs``)."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "channels-harness" / "envs"


def find_uv() -> str | None:
    """The uv binary: the one the ``uv`` package installed beside this Python, else uv on PATH."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def clean_environ() -> dict[str, str]:
    """This process's environment without what would make a child use another Python's
    packages (VIRTUAL_ENV, PYTHONPATH, PYTHONHOME)."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def install_reason(output: str) -> str:
    """The part of pip's or uv's output that says why an install failed, on one line."""
    raw = output.splitlines()
    for index, line in enumerate(raw):  # uv: "error: ..." then "cause: ..." (wrapped)
        stripped = line.strip()
        if stripped.startswith(_CAUSE):
            indent = len(line) - len(line.lstrip())
            parts = [stripped.removeprefix(_CAUSE[0]).removeprefix(_CAUSE[1])]
            for more in raw[index + 1 :]:
                if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                    break
                parts.append(more.strip())
            return _short(" ".join(parts))
    lines = [line.strip() for line in raw if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR:", "error:"))]
    if errors:  # pip: the last ERROR line names the requirement it could not meet
        return _short(re.sub(r"\s*\(from versions:[^)]*\)", "", errors[-1].split(":", 1)[1]))
    return _short(lines[-1]) if lines else "no output"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split()).replace(
        ", we can conclude that your requirements are unsatisfiable.", "."
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Env:
    """A built environment for ``stack`` and the tracked versions installed in it."""

    stack: Stack
    path: Path
    installed: dict[str, str]
    installer: str = ""

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def versions(self) -> dict[str, str]:
        """The ``stack`` field of the rows measured in this environment."""
        return self.stack.stack_of(self.installed)


def _project_files() -> tuple[list[str], list[str]]:
    """The harness's dependencies (pyproject.toml) and the pinned lines (requirements.lock)."""
    pyproject, lock = PROJECT_DIR / "pyproject.toml", PROJECT_DIR / "requirements.lock"
    if not pyproject.exists() or not lock.exists():
        raise UsageError(
            f"versions installs the harness from its checkout, and {PROJECT_DIR} has no "
            "pyproject.toml and requirements.lock: run it from a clone of the repository"
        )
    with open(pyproject, "rb") as file:
        dependencies = list(tomllib.load(file)["project"]["dependencies"])
    pinned = [
        line.strip()
        for line in lock.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return dependencies, pinned


def _name(line: str) -> str:
    try:
        return canonical(Requirement(line).name)
    except InvalidRequirement:
        return canonical(re.split(r"[\s\[=<>!~;]", line, maxsplit=1)[0])


def requirements(stack: Stack, dependencies: Sequence[str]) -> list[str]:
    """The harness's dependencies with each pinned distribution at the stack's version
    (extras and markers kept), plus the pins the harness does not depend on."""
    pins = {pin.name: pin for pin in stack.pins}
    lines, seen = [], set()
    for line in dependencies:
        requirement = Requirement(line)
        name = canonical(requirement.name)
        if name in pins:
            seen.add(name)
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            marker = f"; {requirement.marker}" if requirement.marker else ""
            line = f"{requirement.name}{extras}=={pins[name].version}{marker}"
        lines.append(line)
    return lines + [pin.requirement for pin in stack.pins if pin.name not in seen]


def constraints(stack: Stack, pinned: Sequence[str]) -> list[str]:
    """requirements.lock without the distributions the stack pins itself."""
    return [line for line in pinned if _name(line) not in stack.names]


class Builder:
    """Builds (or finds in ``cache``) the environment of a stack; see the module doc."""

    def __init__(self, cache: Path, installer: str = "auto", say: Say | None = None) -> None:
        if installer not in INSTALLERS:
            raise UsageError(f"--installer {installer!r}: choose from {', '.join(INSTALLERS)}")
        self.uv = find_uv() if installer in ("auto", "uv") else None
        if installer == "uv" and self.uv is None:
            raise UsageError("--installer uv: uv is not installed (pip install uv)")
        self.installer = "uv" if self.uv else "pip"
        self.cache = cache
        self.say = say or (lambda text: None)
        self.dependencies, self.pinned = _project_files()
        self._remove_abandoned_builds()

    def key(self, stack: Stack) -> str:
        """The cache folder name of ``stack``'s environment (see the module doc)."""
        document = {
            "pins": sorted(pin.requirement for pin in stack.pins),
            "python": [sys.version, sys.base_prefix],
            "project": str(PROJECT_DIR),
            "dependencies": self.dependencies,
            "lock": self.pinned,
        }
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
        return digest[:20]

    def get(self, stack: Stack) -> Env:
        """``stack``'s environment, built now unless the cache has it; a UsageError naming
        the release and pip's or uv's reason when it does not install."""
        final = self.cache / self.key(stack)
        found = self._load(stack, final)
        if found is not None:
            self.say(f"{stack.label}: cached environment {final}")
            return found
        self.cache.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f"{_BUILD_PREFIX}{os.getpid()}-", dir=self.cache))
        try:
            self.say(f"{stack.label}: building an environment with {self.installer}")
            installed = self._build(stack, build)
            _write_stamp(build, stack, installed, self.installer)
            _retarget(build, final)
            try:
                build.rename(final)
            except OSError:  # another run finished the same environment first
                if self._load(stack, final) is None:
                    raise
        finally:
            shutil.rmtree(build, ignore_errors=True)
        env = self._load(stack, final)
        assert env is not None
        return env

    # -- building ----------------------------------------------------------------

    def _build(self, stack: Stack, build: Path) -> dict[str, str]:
        python = build / "bin" / "python"
        with tempfile.TemporaryDirectory(prefix="channels-harness-versions-") as scratch:
            work = Path(scratch)
            (work / "requirements.txt").write_text(
                "\n".join(requirements(stack, self.dependencies)) + "\n", encoding="utf-8"
            )
            (work / "constraints.txt").write_text(
                "\n".join(constraints(stack, self.pinned)) + "\n", encoding="utf-8"
            )
            for step, argv in self._steps(build, python, work):
                self._run(stack, step, argv)
            inspect = [str(python), "-c", _VERSIONS_SCRIPT, *sorted(stack.names)]
            output = self._run(stack, "inspect", inspect)
        installed: dict[str, str] = json.loads(output.strip().splitlines()[-1])
        return installed

    def _steps(self, build: Path, python: Path, work: Path) -> list[tuple[str, list[str]]]:
        requirement_args = [
            "-c",
            str(work / "constraints.txt"),
            "-r",
            str(work / "requirements.txt"),
        ]
        harness_args = ["--no-deps", "-e", str(PROJECT_DIR)]
        if self.uv is not None:
            install = [self.uv, "pip", "install", "--python", str(python)]
            return [
                ("venv", [self.uv, "venv", "--quiet", "--python", sys.executable, str(build)]),
                ("install", [*install, *requirement_args]),
                ("harness", [*install, *harness_args]),
            ]
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile"]
        return [
            ("venv", [sys.executable, "-m", "venv", "--clear", str(build)]),
            ("install", [*pip, *requirement_args]),
            ("harness", [*pip, *harness_args]),
        ]

    def _run(self, stack: Stack, step: str, argv: list[str]) -> str:
        """Run one build step (bounded in time, its process group reaped); its output, or a
        UsageError that names the culprit release and the installer's reason."""
        with tempfile.TemporaryFile() as log:
            popen = spawn(
                argv, cwd=PROJECT_DIR, env=clean_environ(), stdout=log, stderr=subprocess.STDOUT
            )
            try:
                code = popen.wait(timeout=scaled(BUILD_TIMEOUT_S))
            except subprocess.TimeoutExpired:
                code = None
            finally:
                stop_group(popen)
            log.seek(0)
            output = log.read().decode("utf-8", errors="replace")
        if code == 0:
            return output
        reason = (
            f"{step} did not finish within {scaled(BUILD_TIMEOUT_S):.0f} s"
            if code is None
            else install_reason(output)
        )
        raise UsageError(f"{_culprit(stack, reason)}: {reason}")

    # -- the cache -----------------------------------------------------------------

    def _load(self, stack: Stack, final: Path) -> Env | None:
        try:
            stamp = json.loads((final / STAMP).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not (final / "bin" / "python").exists():
            return None
        return Env(
            stack=stack,
            path=final,
            installed=dict(stamp["installed"]),
            installer=str(stamp.get("installer", "")),
        )

    def _remove_abandoned_builds(self) -> None:
        """Remove build folders whose run is gone (killed before it could clean up)."""
        if not self.cache.is_dir():
            return
        for folder in self.cache.glob(f"{_BUILD_PREFIX}*"):
            match = re.match(rf"{re.escape(_BUILD_PREFIX)}(\d+)-", folder.name)
            if match and not psutil.pid_exists(int(match.group(1))):
                shutil.rmtree(folder, ignore_errors=True)


def _culprit(stack: Stack, reason: str) -> str:
    """The release a failed install is blamed on: the one pin the reason names, else the stack."""
    named = [pin for pin in stack.pins if _mentions(reason, pin)]
    if len(named) == 1:
        return f"{named[0].requirement} does not install"
    pins = ", ".join(pin.requirement for pin in stack.pins) or "the pinned stack"
    return f"the stack {pins} does not install"


def _mentions(reason: str, pin: Pin) -> bool:
    pattern = re.escape(pin.name).replace(r"\-", "[-_.]")
    return re.search(rf"(?<![\w.-]){pattern}(?![\w-])", reason, re.IGNORECASE) is not None


def _write_stamp(build: Path, stack: Stack, installed: dict[str, str], installer: str) -> None:
    stamp = {
        "pins": [pin.requirement for pin in stack.pins],
        "installed": installed,
        "installer": installer,
        "project": str(PROJECT_DIR),
    }
    (build / STAMP).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")


def _retarget(build: Path, final: Path) -> None:
    """Point the scripts in ``bin/`` (shebangs, activate) at the folder the build is renamed to."""
    old, new = str(build).encode(), str(final).encode()
    for script in (build / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        with contextlib.suppress(OSError):
            content = script.read_bytes()
            if old in content:
                script.write_bytes(content.replace(old, new))
