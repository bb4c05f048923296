"""`python jobs/data_report.py …` is `swipe report …` (swipe/commands.py), kept for `ray job submit -- python jobs/data_report.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['report'] + sys.argv[1:])
