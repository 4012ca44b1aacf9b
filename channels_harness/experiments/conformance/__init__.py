"""What the conformance suites share.

Case metadata and clause citations (:mod:`.cases`), grades and the verdict a
case builds (:mod:`.verdict`), the known-deviations file (:mod:`.deviations`),
the pytest hooks that turn verdicts into outcomes and rows (:mod:`.plugin`),
the matrix writer (:mod:`.matrix`) and the subprocess runner for
``channels-harness`` (:mod:`.runner`).
"""
