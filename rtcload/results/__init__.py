"""The results of a run: the data contract every output shares (loadgen writes it; gates and reports read it).

Imports none of loadgen, gates or report, so each of them can depend on it without a cycle.
"""
