"""The benchmark matrix: what to measure (:mod:`.plan`) and measuring it
(:mod:`.run`), one module per section (:mod:`.throughput`, :mod:`.latency`,
:mod:`.handshake`, :mod:`.memory`, :mod:`.blocking`, :mod:`.breakdown`,
:mod:`.headroom`) on a shared :mod:`.session` and :mod:`.interleave`."""
