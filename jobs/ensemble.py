"""`python jobs/ensemble.py …` is `swipe dev ensemble …` (swipe/commands.py), kept for `ray job submit -- python jobs/ensemble.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 'ensemble'] + sys.argv[1:])
