"""One module per ``channels-harness`` subcommand (see :mod:`channels_harness.cli`)."""
