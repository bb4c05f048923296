"""Realism report: statistics of a synthetic dataset next to real swipes (Markdown + PNG).

    python jobs/data_report.py --config configs/report_en.yaml
"""

from swipe.cli import parse_job_args
from swipe.data.report import ReportConfig, write_data_report

if __name__ == "__main__":
    cfg = parse_job_args(ReportConfig, __doc__)
    comparison = write_data_report(cfg)
    print(comparison.to_markdown())
    name, ks = comparison.worst_ks
    print(f"\nworst KS: {name} {ks:.3f}; classifier two-sample test ROC AUC: "
          + (f"{comparison.c2st_auc:.3f}" if comparison.c2st_auc is not None else "not run"))
    print(f"all medians within ±{cfg.tolerance:.0%}: {'yes' if comparison.all_within else 'NO'}"
          f"\nreport: {cfg.out}.md, {cfg.out}.png, {cfg.out}_swipes.png")
