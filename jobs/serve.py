"""`python jobs/serve.py …` is `swipe serve …` (swipe/commands.py), kept for `ray job submit -- python jobs/serve.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['serve'] + sys.argv[1:])
