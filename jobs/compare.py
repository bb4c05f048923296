"""`python jobs/compare.py …` is `swipe compare …` (swipe/commands.py), kept for `ray job submit -- python jobs/compare.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['compare'] + sys.argv[1:])
