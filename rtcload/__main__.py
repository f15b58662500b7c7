"""`python -m rtcload` is the `rtcload` command."""

import sys

from rtcload.cli import main

sys.exit(main())
