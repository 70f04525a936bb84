"""`python -m geovr ...` is the same as the `geovr` console script."""

import sys

from geovr.cli import main

sys.exit(main())
