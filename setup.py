"""The one build step pyproject.toml cannot declare: ship the repository's
top-level parts inside the wheel.

``target_app/`` (the reference app), ``locustfiles/`` and ``conformance/`` (the
suites and their deviations file) stay top-level folders of the repository,
where people read and run them. A wheel carries copies of them under
``channels_harness/_bundled/``, where ``channels_harness.runtime.paths`` finds
them when the harness is installed without the checkout. Editable installs
skip the copy: they read the checkout itself.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("target_app", "locustfiles", "conformance")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "db.sqlite3*", ".pytest_cache")


class BuildPyWithBundle(build_py):
    """build_py, then the bundled folders copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "channels_harness" / "_bundled"
        for name in BUNDLED:
            destination = target / name
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(HERE / name, destination, ignore=SKIPPED)


setup(cmdclass={"build_py": BuildPyWithBundle})
