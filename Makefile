# swipe: the two commands. Both set up the virtualenv first (nothing installed by hand).
#   make quickstart   data → train → evaluate (predict as it lands) on a local Ray
#   make test         the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup quickstart test bench clean

setup: $(STAMP)

# Re-install whenever pyproject.toml (the one place with pins) changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -c "import torch, ray; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

quickstart: $(STAMP)
	$(PY) jobs/make_dataset.py --config configs/synth_en.yaml
	$(PY) jobs/make_dataset.py --config configs/import_dev.yaml
	$(PY) jobs/data_report.py --config configs/report_en.yaml
	$(PY) jobs/train.py --config configs/quickstart.yaml

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
test: $(STAMP)
	$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

bench: $(STAMP)
	for b in synth lexicon data train; do $(PY) jobs/bench.py $$b; done

clean:
	rm -rf data/datasets runs reports .pytest_cache
