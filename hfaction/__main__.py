import sys

from hfaction.cli import main

sys.exit(main())
