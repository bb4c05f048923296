"""`python jobs/sweep.py …` is `swipe sweep …` (swipe/commands.py), kept for `ray job submit -- python jobs/sweep.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['sweep'] + sys.argv[1:])
