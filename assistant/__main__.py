"""`python -m assistant ...`: the command line lives in assistant/cli/."""

import sys

from .cli.main import main

sys.exit(main())
