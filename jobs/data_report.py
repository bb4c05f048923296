"""Realism report: statistics of a synthetic dataset next to real swipes (Markdown + PNG).

    python jobs/data_report.py --config configs/report_en.yaml
"""

from swipe.cli import parse_job_args
from swipe.data.report import ReportConfig, write_data_report

if __name__ == "__main__":
    cfg = parse_job_args(ReportConfig, __doc__)
    comparison = write_data_report(cfg)
    print(comparison.to_markdown())
    print(f"\nall medians within ±{cfg.tolerance:.0%}: {'yes' if comparison.all_within else 'NO'}"
          f"\nreport: {cfg.out}.md, {cfg.out}.png, {cfg.out}_swipes.png")
