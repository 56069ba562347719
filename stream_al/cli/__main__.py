"""``python -m stream_al.cli``."""

from __future__ import annotations

import sys

from stream_al.cli import main

sys.exit(main())
