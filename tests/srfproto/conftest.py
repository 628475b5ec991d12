"""The srf dialect's server tests reuse the server tests' harness (a server on free ports, sipp)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))
