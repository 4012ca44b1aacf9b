"""The conformance grades as the reports show them (Autobahn style).

PASS: as the spec says. NON-STRICT: a SHOULD missed. FAIL: a MUST broken.
INFO: a recorded value, not judged. N/A: the server does not advertise the
spec version or extension the case needs.
"""

# The order legends and tallies list them in.
GRADE_ORDER = ("PASS", "NON-STRICT", "FAIL", "INFO", "N/A")

# Grades that mean the server did not do what the spec says.
DEVIATING_GRADES = ("FAIL", "NON-STRICT")

# How bad each grade is: a case's cell shows the worst grade any flavour got.
SEVERITY = {"FAIL": 4, "NON-STRICT": 3, "PASS": 2, "INFO": 1, "N/A": 0}
