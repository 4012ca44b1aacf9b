"""Where the project's parts live on disk."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = PACKAGE_DIR.parent
TARGET_APP_DIR = PROJECT_DIR / "target_app"
RESULTS_DIR = PROJECT_DIR / "results"
LOCUSTFILES_DIR = PROJECT_DIR / "locustfiles"
CONFORMANCE_DIR = PROJECT_DIR / "conformance"
BENCH_DIR = PROJECT_DIR / "bench"
