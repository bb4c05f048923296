"""`python jobs/train.py …` is `swipe train …` (swipe/commands.py), kept for `ray job submit -- python jobs/train.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['train'] + sys.argv[1:])
