import sys

from facert.cli import main

sys.exit(main())
