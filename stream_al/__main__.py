"""``python -m stream_al``: the command line."""

from __future__ import annotations

import sys

from stream_al.cli import main

sys.exit(main())
