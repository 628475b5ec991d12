"""``python -m drachtio``: the same as the ``drachtio`` command."""

import sys

from drachtio.cli import main

sys.exit(main())
