"""`python -m cappuccino_operator run ...`."""

from __future__ import annotations

import sys

from cappuccino_operator.main import main

sys.exit(main())
