"""Prediction folders side by side: swipe_mrr and accuracy overall and on the reporting half of the users.

    python jobs/compare.py runs/RUN/predictions/real_dev_template runs/RUN/predictions/real_dev
"""

import argparse

from swipe.evaluate.report import compare_predictions

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("predictions", nargs="+", help="folders written by jobs/predict.py")
    print(compare_predictions(p.parse_args().predictions))
