"""Where the project's parts live on disk, from a checkout or from an installed wheel.

The reference app (``target_app/``), the locustfiles and the conformance suites
are top-level folders of the repository. A wheel carries copies of them in
``channels_harness/_bundled/`` (made by the build step in ``setup.py``), so an
installed harness finds them without the checkout. :data:`PROJECT_DIR` is the
folder that holds them: the bundled copy when there is one, else the checkout.

Results go to ``./results`` under the directory the harness was started in
(:data:`RESULTS_DIR`), unless a command's ``--results`` says otherwise.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Only an installed wheel has this folder; a checkout (or an editable install) has not.
BUNDLED_DIR = PACKAGE_DIR / "_bundled"
# The repository the package was imported from, or None for an installed wheel.
CHECKOUT_DIR: Path | None = (
    PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").is_file() else None
)
PROJECT_DIR = BUNDLED_DIR if BUNDLED_DIR.is_dir() else PACKAGE_DIR.parent
TARGET_APP_DIR = PROJECT_DIR / "target_app"
LOCUSTFILES_DIR = PROJECT_DIR / "locustfiles"
CONFORMANCE_DIR = PROJECT_DIR / "conformance"
BENCH_DIR = PROJECT_DIR / "bench"
RESULTS_DIR = Path.cwd() / "results"
