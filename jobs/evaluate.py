"""`python jobs/evaluate.py …` is `swipe evaluate …` (swipe/commands.py), kept for `ray job submit -- python jobs/evaluate.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['evaluate'] + sys.argv[1:])
