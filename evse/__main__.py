"""`python -m evse` is the `evse` command."""

import sys

from evse.cli import main

sys.exit(main())
