"""`python jobs/submit_local.py …` is `swipe dev submit-local …` (swipe/commands.py), kept for `ray job submit -- python jobs/submit_local.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 'submit-local'] + sys.argv[1:])
