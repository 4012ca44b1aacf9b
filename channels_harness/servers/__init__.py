"""The systems under test and how they run: the server registry
(:mod:`.registry`), a process that never leaks (:mod:`.process`), several
processes as one (:mod:`.fleet`), a session's pool (:mod:`.pool`), Redis for
the channel layers (:mod:`.redis`), the raw echo baseline (:mod:`.rawecho`),
bare ASGI apps for the layer breakdown (:mod:`.apps`) and the reference app's
names (:mod:`.reference`)."""
