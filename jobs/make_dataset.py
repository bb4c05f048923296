"""`python jobs/make_dataset.py …` is `swipe data …` (swipe/commands.py), kept for `ray job submit -- python jobs/make_dataset.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['data'] + sys.argv[1:])
