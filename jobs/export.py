"""Export a checkpoint to ONNX (an encoder with its point features, a one-step decoder with its cache,
the teacher-forced score and attention graphs; fp32 and int8) for onnxruntime, which decodes it
without torch (swipe.export.runtime). An existing export in `out` is kept unless `overwrite=true`.

    python jobs/export.py checkpoint=models/en-small out=runs/export/en-small
"""

from dataclasses import dataclass

from swipe import storage
from swipe.cli import parse_job_args
from swipe.console import table
from swipe.export.onnx import export_onnx
from swipe.export.runtime import EXPORT_FILE


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: str = "models/en-small"  # a checkpoint or a run (folder or URI)
    out: str = "runs/export/en-small"
    int8: bool = True  # also the dynamically quantized (int8 weights) graphs
    overwrite: bool = False  # replace an export already in `out` (refused before any work otherwise)


if __name__ == "__main__":
    cfg = parse_job_args(ExportConfig, __doc__)
    storage.refuse_existing(f"{cfg.out.rstrip('/')}/{EXPORT_FILE}", cfg.overwrite)
    info = export_onnx(cfg.checkpoint, cfg.out, cfg.int8)
    print("\n" + table([("out", cfg.out), ("graphs", ", ".join(info["files"])), ("seconds", info["export_s"])],
                       "export"))
