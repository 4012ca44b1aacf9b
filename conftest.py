"""Load the harness's pytest plugin for every suite in this repository."""

pytest_plugins = ["channels_harness.testing.plugin"]
