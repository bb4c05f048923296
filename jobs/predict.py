"""`python jobs/predict.py …` is `swipe predict …` (swipe/commands.py), kept for `ray job submit -- python jobs/predict.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['predict'] + sys.argv[1:])
