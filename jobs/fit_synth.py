"""`python jobs/fit_synth.py …` is `swipe dev fit-synth …` (swipe/commands.py), kept for `ray job submit -- python jobs/fit_synth.py`."""

import sys

from swipe.commands import main

if __name__ == "__main__":
    main(['dev', 'fit-synth'] + sys.argv[1:])
