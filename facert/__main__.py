"""`python -m facert ...`: the same as the `facert` command."""
import sys

from facert.cli import main

sys.exit(main())
