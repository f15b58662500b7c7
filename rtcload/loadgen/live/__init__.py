"""The live Quality view: call quality, calls and generator health while a run runs, in Locust's web UI.

Samples and call records reach it from the same `WebRTCUser.fire` / `write_records` calls that feed the
ledger (summary.json) and Prometheus, travel worker -> master inside Locust's own stats reports
(`report_to_master` / `worker_report`), and are reduced with the ledger's nearest-rank statistics, so the
view's latest figures are summary.json's figures. Modules: collector (per load process), aggregate
(master or local process), worst (the worst calls table), csvfiles (quality CSVs), plugin (Locust
wiring), web (routes in Locust's Flask app).
"""
