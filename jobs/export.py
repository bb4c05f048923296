"""Export a checkpoint to ONNX (an encoder with its point features, a one-step decoder with its cache;
fp32 and int8) for onnxruntime, which decodes it without torch (swipe.export.runtime).

    python jobs/export.py checkpoint=models/en-small out=models/en-small/onnx
"""

from dataclasses import dataclass

from swipe.cli import parse_job_args
from swipe.console import table
from swipe.export.onnx import export_onnx


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: str = "models/en-small"  # a checkpoint or a run (folder or URI)
    out: str = "runs/export/en-small"
    int8: bool = True  # also the dynamically quantized (int8 weights) graphs


if __name__ == "__main__":
    cfg = parse_job_args(ExportConfig, __doc__)
    info = export_onnx(cfg.checkpoint, cfg.out, cfg.int8)
    print("\n" + table([("out", cfg.out), ("graphs", ", ".join(info["files"])), ("seconds", info["export_s"])],
                       "export"))
