"""CI gates: SLO verdicts, JUnit output, baseline comparison and capacity search."""
