"""`python jobs/fit_generator.py …` is `swipe dev fit-generator …` (swipe/commands.py), kept for `ray job submit -- python jobs/fit_generator.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 'fit-generator'] + sys.argv[1:])
