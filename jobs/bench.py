"""`python jobs/bench.py …` is `swipe bench …` (swipe/commands.py), kept for `ray job submit -- python jobs/bench.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['bench'] + sys.argv[1:])
