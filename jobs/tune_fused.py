"""`python jobs/tune_fused.py …` is `swipe dev tune-fused …` (swipe/commands.py), kept for `ray job submit -- python jobs/tune_fused.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 'tune-fused'] + sys.argv[1:])
