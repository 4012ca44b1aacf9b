"""Hostile clients against live servers (:mod:`.run`), one module per family of
attack, and what is left of a server afterwards (:mod:`.aftermath`)."""
