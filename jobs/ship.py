"""`python jobs/ship.py …` is `swipe dev ship …` (swipe/commands.py), kept for `ray job submit -- python jobs/ship.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 'ship'] + sys.argv[1:])
