"""`python jobs/s3_local.py …` is `swipe dev s3-local …` (swipe/commands.py), kept for `ray job submit -- python jobs/s3_local.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 's3-local'] + sys.argv[1:])
