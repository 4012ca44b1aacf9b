"""Deterministic cost per message: instructions and syscalls counted under valgrind
(:mod:`.run`, with the meter in :mod:`.valgrind` and the connection in :mod:`.phases`)."""
