"""`python jobs/export.py …` is `swipe export …` (swipe/commands.py), kept for `ray job submit -- python jobs/export.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['export'] + sys.argv[1:])
