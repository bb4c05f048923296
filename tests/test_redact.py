"""Credentials never reach a record: the user part of a URI and every credential variable's value
are replaced in what the jobs write (here a manifest, a prediction-table row, W&B's config)."""

import json

from swipe.data.dataset import save_manifest
from swipe.evaluate.table import predictor_row
from swipe.provenance import redact

KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_credentials_are_redacted_wherever_they_appear(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY)
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("WANDB_MODE", "offline")  # not a credential: "offline" stays readable
    record = {"dataset": f"s3://AKIAEXAMPLE:{KEY}@bucket/swipe/ds", "tags": [f"key={KEY}", "offline"],
              "nested": {"wandb": "0123456789abcdef0123456789abcdef01234567"}, "steps": 5}
    out = redact(record)
    assert out == {"dataset": "s3://***@bucket/swipe/ds", "tags": ["key=***", "offline"],
                   "nested": {"wandb": "***"}, "steps": 5}
    save_manifest(tmp_path, {"provenance": {"config": record}})
    row = predictor_row(f"s3://u:{KEY}@b/ckpt", {}, "template", {}, {}, "qwerty", record["dataset"], "dev",
                        "p", {"swipe_mrr": 0.5})
    for written in ((tmp_path / "dataset.json").read_text(), json.dumps(row)):
        assert KEY not in written and "AKIAEXAMPLE" not in written and "0123456789abcdef" not in written
