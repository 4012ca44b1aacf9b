"""The version matrix: the stacks (:mod:`.matrix`), their environments (:mod:`.envs`),
measuring one stack in its environment (:mod:`.measure`), each stack against the
first (:mod:`.changes`), and the whole run (:mod:`.plan`, :mod:`.run`)."""
