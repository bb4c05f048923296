# swipe: the two commands. Both set up the virtualenv first (nothing installed by hand).
#   make quickstart   data → train → predict → evaluate on a local Ray (and the template matcher beside it)
#   make test         the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SWIPE  := $(VENV)/bin/swipe
STAMP  := $(VENV)/.installed
RUN    := quickstart-$(shell date -u +%Y%m%dT%H%M%S)

.PHONY: setup quickstart test bench results sweep executorch demo clean

setup: $(STAMP)

# Re-install whenever pyproject.toml (the one place with pins) changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -e '.[dev]'
	@# byte-compile on every core (pip compiles on one: about 124 s in all vs 61 + 27 s here). Without .pyc
	@# files every Ray worker compiles torch on import where PYTHONDONTWRITEBYTECODE is set.
	@# A few files written for newer Pythons do not compile, as under pip: errors are ignored.
	-$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1
	$(PY) -c "import torch, ray; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

quickstart: $(STAMP)
	$(SWIPE) data --config configs/synth_en.yaml
	$(SWIPE) data --config configs/import_dev.yaml
	$(SWIPE) report --config configs/report_en.yaml
	$(SWIPE) train --config configs/quickstart.yaml run.name=$(RUN)
	$(SWIPE) predict --config configs/predict_en.yaml checkpoint=runs/$(RUN) \
	    dataset=data/datasets/synth_en split=test out=runs/$(RUN)/predictions/synth_test
	$(SWIPE) predict --config configs/predict_en.yaml checkpoint=runs/$(RUN) \
	    dataset=data/datasets/real_en_dev split=dev out=runs/$(RUN)/predictions/real_dev
	$(SWIPE) evaluate predictions=runs/$(RUN)/predictions/synth_test 'beam_sizes=[]'
	$(SWIPE) evaluate predictions=runs/$(RUN)/predictions/real_dev 'beam_sizes=[1,2,4,8]' sweep_rows=200 options=false
	$(SWIPE) predict --config configs/predict_template_en.yaml \
	    dataset=data/datasets/real_en_dev split=dev out=runs/$(RUN)/predictions/real_dev_template
	$(SWIPE) evaluate predictions=runs/$(RUN)/predictions/real_dev_template
	@# the two shipped English models, beam only and fused (each with its decode config): models/en-small
	@# (synthetic-only) and models/en-small-real (the best English model: real swipes in its training);
	@# then the same architecture trained on the real train split alone
	$(SWIPE) predict --config configs/predict_en.yaml checkpoint=models/en-small \
	    dataset=data/datasets/real_en_dev split=dev out=runs/$(RUN)/predictions/real_dev_en_small_beam
	$(SWIPE) predict --config configs/decode_en.yaml checkpoint=models/en-small \
	    dataset=data/datasets/real_en_dev split=dev out=runs/$(RUN)/predictions/real_dev_en_small_fused
	$(SWIPE) predict --config configs/predict_en.yaml checkpoint=models/en-small-real \
	    dataset=data/datasets/real_en_dev split=dev out=runs/$(RUN)/predictions/real_dev_en_small_real_beam
	$(SWIPE) predict --config configs/decode_en_real.yaml checkpoint=models/en-small-real \
	    dataset=data/datasets/real_en_dev split=dev out=runs/$(RUN)/predictions/real_dev_en_small_real_fused
	$(SWIPE) predict --config configs/predict_en.yaml checkpoint=models/en-small-realonly \
	    dataset=data/datasets/real_en_dev split=dev out=runs/$(RUN)/predictions/real_dev_realonly_beam
	$(SWIPE) compare runs/$(RUN)/predictions/real_dev_template runs/$(RUN)/predictions/real_dev \
	    runs/$(RUN)/predictions/real_dev_en_small_beam runs/$(RUN)/predictions/real_dev_en_small_fused \
	    runs/$(RUN)/predictions/real_dev_en_small_real_beam runs/$(RUN)/predictions/real_dev_en_small_real_fused \
	    runs/$(RUN)/predictions/real_dev_realonly_beam

# pytest exits 5 when it collected no tests: that is a failure here, not a pass. Two workers: every test
# marked `ray` runs on one of them, in order, sharing its local Ray (tests/conftest.py); the rest on the other.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# The ExecuTorch export (optional extra, not in `make test`): install it, then run its tests.
executorch: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,executorch]'
	$(PY) -m pytest -q tests/export/test_executorch.py

# The online decoder and its browser demo on a local Ray: http://127.0.0.1:8000/ (Ctrl-C stops it).
demo: $(STAMP)
	$(SWIPE) serve --config configs/serve_en.yaml

# The quick Ray Tune sweep (≤ 15 minutes here); makes the synthetic set first if missing.
sweep: $(STAMP)
	test -f data/datasets/synth_en/dataset.json || $(SWIPE) data --config configs/synth_en.yaml
	$(SWIPE) sweep --config configs/tune/quick.yaml

# Every benchmark in turn (swipe bench --list), each printing one JSON object (tune and reliability: ~20 min).
bench: $(STAMP)
	test -f data/datasets/synth_en/dataset.json || $(SWIPE) data --config configs/synth_en.yaml
	set -e; for b in $$($(SWIPE) bench --list); do $(SWIPE) bench $$b; done

# docs/results.md and docs/benchmarks.md from one run: the shipped decoders on the real dev people, and the
# decode, export, serve, synth and lexicon benchmarks (18 minutes on 2 cores).
results: $(STAMP)
	$(SWIPE) dev results

clean:
	rm -rf data/datasets runs reports .pytest_cache
