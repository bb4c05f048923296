"""`python jobs/calibrate.py …` is `swipe dev calibrate …` (swipe/commands.py), kept for `ray job submit -- python jobs/calibrate.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 'calibrate'] + sys.argv[1:])
