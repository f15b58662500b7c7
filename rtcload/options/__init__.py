"""The vocabulary of rtcload's options: one parser per kind of value, one reader of the environment.

Every command, scenario and room parses a duration, a boolean, a count, a rate, a distribution or a
path the same way through `kinds`, and reads RTCLOAD_* variables only through `env`, so `30s`, `y`
and `off` mean the same on every command and in every variable. The options registry (issue 25) is
built on top of these parsers.
"""
