"""The wire check: capture a real `rtcload run` on a network namespace's loopback and judge it with tshark.

Why: rtcload's own figures (jitter, send gaps) can only be trusted if an analyser the project did not
write sees the same on the wire. `driver.py` runs the whole scenario inside `unshare --net` (tcpdump,
a separate `rtcload emulator`, `rtcload run`, an optional SIGSTOP stall) and `analysis.py` reads the
capture with Debian's tshark and compares it with calls.csv / summary.json. Used by
tests/test_wire_truth.py and bench/wire_churn.py.
"""
