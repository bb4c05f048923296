"""The input spec: its point rules, its repairs, its record in model.json, and that nothing but
`model_inputs` chooses which points a model reads."""

import json

import numpy as np
import pytest

from swipe.data.swipes import SwipeBatch
from swipe.model.inputs import model_inputs
from swipe.model.spec import InputSpec, PointSpec, RepairSpec, load_spec, spec_from_dict

from conftest import ROOT


def _batch(xs, ys, ts) -> SwipeBatch:
    return SwipeBatch.from_lists(list(range(len(xs))), [None] * len(xs), ["g"] * len(xs), xs, ys, ts)


_CALLERS = """
import ast, json, sys
from pathlib import Path
root = Path(sys.argv[1])
callers = []
for pattern in ("swipe/**/*.py", "bench/**/*.py", "jobs/*.py", "tests/**/*.py"):
    for path in sorted(root.glob(pattern)):
        for fn in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "pad_points":
                        callers.append(f"{path.relative_to(root)}:{fn.name}")
print(json.dumps(callers))
"""


def test_nothing_but_model_inputs_calls_pad_points():
    """The structure that keeps training and inference alike: every path reaches the model's
    points through model_inputs (with the model's spec); no module pads points its own way.
    (The walk runs in a fresh interpreter: CPython 3.11's ast.parse can raise a spurious
    "AST constructor recursion depth mismatch" in a process whose recursion counter other
    tests have moved.)"""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _CALLERS, str(ROOT)], capture_output=True, text=True, check=True)
    callers = json.loads(out.stdout)
    assert callers == ["swipe/model/inputs.py:model_inputs"], callers


def test_index_rule_keeps_first_and_last_and_caps_the_count():
    n = 200
    b = _batch([np.arange(n) * 1.0], [np.zeros(n)], [np.arange(n) * 16.0])
    out = model_inputs(b, InputSpec(PointSpec(64, "index")))
    assert out["x"].shape == (1, 64) and out["x"][0, 0] == 0 and out["x"][0, -1] == n - 1


def test_time_and_arclength_rules_do_not_depend_on_the_sampling_rate():
    """One gesture logged at 60 and at 120 Hz (other phases too) reads alike under the named
    rate-free rules, and differently by index."""
    path = lambda tt: (100 + 200 * np.sin(tt / 300), 50 + 80 * np.cos(tt / 200))  # noqa: E731
    t60, t120 = np.arange(0, 900, 1000 / 60), np.arange(4, 900, 1000 / 120)
    t60, t120 = np.append(t60, 900.0), np.append(t120, 900.0)
    b60 = _batch([path(t60)[0]], [path(t60)[1]], [t60])
    b120 = _batch([path(t120)[0]], [path(t120)[1]], [t120 - 4])  # its clock starts at its first point
    for spec in (PointSpec(64, "time", 60.0), PointSpec(64, "arclength")):
        a, b = model_inputs(b60, InputSpec(spec)), model_inputs(b120, InputSpec(spec))
        n = min(a["mask"].sum(), b["mask"].sum())
        assert abs(int(a["mask"].sum()) - int(b["mask"].sum())) <= 1, spec
        assert np.abs(a["x"][0, :n] - b["x"][0, :n]).max() < 6.0, spec  # pixels; a key is ~35 wide
    a, b = model_inputs(b60, InputSpec(PointSpec(64, "index"))), model_inputs(b120, InputSpec(PointSpec(64, "index")))
    assert a["mask"].sum() != b["mask"].sum() or np.abs(a["t"] - b["t"]).max() > 1  # by index: not alike


def test_repairs_drop_repeated_times_and_keep_epoch_milliseconds_exact():
    """Raw epoch milliseconds (1.7e12) lose 131 s steps in float32: t is shifted in float64 first."""
    t0 = 1_733_000_000_123.0
    b = _batch([[1.0, 2.0, 2.5, 3.0]], [[0.0, 0.0, 0.0, 0.0]], [[t0, t0 + 16, t0 + 16, t0 + 33]])
    out = model_inputs(b, InputSpec(PointSpec(64)))
    assert out["mask"].sum() == 3 and out["t"][0, :3].tolist() == [0.0, 16.0, 33.0]
    assert out["x"][0, :3].tolist() == [1.0, 2.0, 3.0]
    kept = model_inputs(b, InputSpec(PointSpec(64), RepairSpec(drop_duplicate_times=False, t_from_zero=False)))
    assert kept["mask"].sum() == 4


def test_the_spec_is_saved_with_the_model_and_a_model_without_one_is_refused(tmp_path):
    meta = json.loads((ROOT / "models/en-small/model.json").read_text())
    spec = load_spec(meta)
    # the shipped model's recorded training config: 64 points, subsampled by index
    assert spec.points == PointSpec(64, "index") == PointSpec(meta["train"]["config"]["data"]["max_points"], "index")
    assert spec_from_dict(spec.to_dict()) == spec and spec.tag().startswith("index64-")
    with pytest.raises(ValueError, match="no input_spec"):
        load_spec({k: v for k, v in meta.items() if k != "input_spec"})
    other = InputSpec(PointSpec(128))
    assert spec.differences(other) == ["points.max_points: 64 → 128"] and other.digest() != spec.digest()


def test_ship_refuses_a_checkpoint_without_a_spec_and_writes_nothing(tmp_path):
    import shutil
    import subprocess
    import sys

    src = tmp_path / "old"
    shutil.copytree(ROOT / "models/en-small", src)
    meta = json.loads((src / "model.json").read_text())
    del meta["input_spec"]
    (src / "model.json").write_text(json.dumps(meta))
    run = subprocess.run([sys.executable, "jobs/ship.py", f"run={src}", f"out={tmp_path / 'shipped'}", "allow_real=true"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and "input_spec" in run.stderr and not (tmp_path / "shipped").exists()
    # nor does it replace a model already shipped, unless told (out= is required: it had a default)
    args = [sys.executable, "jobs/ship.py", f"run={ROOT / 'models/en-small'}", "allow_real=true"]
    before = (src / "model.pt").read_bytes()
    for extra in ([], [f"out={src}"]):
        run = subprocess.run(args + extra, cwd=ROOT, capture_output=True, text=True)
        assert run.returncode != 0 and ("out=" in run.stderr or "overwrite=true" in run.stderr), run.stderr
    assert (src / "model.pt").read_bytes() == before


def test_the_tuning_and_export_jobs_refuse_to_replace_their_output_before_any_work(tmp_path):
    from swipe.dev.calibrate import CalibrateConfig, FusedCalibrateConfig, calibrate_fused, calibrate_template

    mine = tmp_path / "mine.yaml"
    mine.write_text("# a user's config\n")
    for job, cfg in ((calibrate_template, CalibrateConfig(dataset="no/such/dataset", out=str(mine))),
                     (calibrate_fused, FusedCalibrateConfig(checkpoint="no/such/model", out=str(mine)))):
        with pytest.raises(FileExistsError, match="overwrite=true"):
            job(cfg)  # refused before the (missing) dataset or model is opened
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "jobs/fit_synth.py", "real=/no/such.jsonl", f"out={mine}"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "overwrite=true" in run.stderr, run.stderr
    assert mine.read_text() == "# a user's config\n"
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "export.json").write_text("{}")  # an export already there
    run = subprocess.run([sys.executable, "jobs/export.py", "checkpoint=no/such/model", f"out={tmp_path / 'export'}"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and "overwrite=true" in run.stderr, run.stderr
    assert (tmp_path / "export" / "export.json").read_text() == "{}"


def test_a_prediction_folder_is_resumed_only_by_what_made_it(tmp_path):
    """Another model (its weights), input spec, decoder or setting never resumes into a folder:
    its rows would be returned as the new run's. The model's folder names its predictions."""
    from swipe.evaluate.predict import SPEC_MARKER, _model_name, check_resumable

    made = {"model": "aaaa", "input_spec": InputSpec().to_dict(), "decoder": "beam", "beam": {"beam_size": 6}}
    check_resumable(str(tmp_path / "new"), made)  # nothing there: fine
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / SPEC_MARKER).write_text(json.dumps(made))
    check_resumable(str(tmp_path / "o"), made)  # the same run again: resumes
    for key, other in (("model", "bbbb"), ("decoder", "fused"), ("beam", {"beam_size": 8}),
                       ("input_spec", InputSpec(PointSpec(64)).to_dict())):
        with pytest.raises(FileExistsError, match=key):
            check_resumable(str(tmp_path / "o"), made | {key: other})
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "part-00000.parquet").write_bytes(b"")  # predictions that do not say how they were made
    with pytest.raises(FileExistsError, match="nothing was overwritten"):
        check_resumable(str(tmp_path / "old"), made)
    assert _model_name(str(ROOT / "models/en-small"), ROOT / "models/en-small") == "en-small"


def test_the_time_rule_keeps_the_first_and_last_point_of_a_swipe_shorter_than_half_a_step():
    b = _batch([np.array([10.0, 20.0, 30.0])], [np.zeros(3)], [np.array([0.0, 2.0, 5.0])])  # 5 ms < 8.3 ms / 2
    out = model_inputs(b, InputSpec(PointSpec(64, "time", 60.0)))
    assert int(out["mask"].sum()) == 2 and list(out["x"][0, :2]) == [10.0, 30.0]


def test_one_default_for_how_many_points_a_model_reads():
    from swipe.train.config import DataConfig

    d = DataConfig()
    assert (d.max_points, d.point_rule, d.rate_hz) == (PointSpec().max_points, PointSpec().rule, PointSpec().rate_hz)
