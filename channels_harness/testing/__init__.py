"""pytest integration: the plugin that gives test suites live servers
(:mod:`.plugin`)."""
