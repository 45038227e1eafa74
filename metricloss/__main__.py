"""``python -m metricloss``: the ``metricloss`` command, for environments without its script."""

import sys

from .cli import main

sys.exit(main())
