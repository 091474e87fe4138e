# Quick start: `make demo` runs the product, `make test` runs the tests. Both build .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DATA := data/demo
DEMO_CATEGORY ?= washer
DEMO_MODEL := models/demo-$(DEMO_CATEGORY)-patchcore

export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint venv clean benchmark

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

$(DEMO_DATA)/dataset.json: | $(STAMP)
	$(BIN)/inspector-train synth --out $(DEMO_DATA) --seed 0 --test-good 40

$(DEMO_MODEL)/manifest.json: | $(DEMO_DATA)/dataset.json
	$(BIN)/inspector-train anomaly --data $(DEMO_DATA) --category $(DEMO_CATEGORY) \
		--model patchcore --backbone lite0 --image-size 256 --out $(DEMO_MODEL)

demo: $(DEMO_MODEL)/manifest.json
	$(BIN)/inspector-train verify $(DEMO_MODEL)
	$(BIN)/inspector demo-prepare --config configs/station.yaml
	$(BIN)/inspector station --config configs/station.yaml --line opcua --line-sim

lint: $(STAMP)
	$(BIN)/ruff check inspector training tests benchmarks
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

benchmark: $(STAMP)
	$(BIN)/python benchmarks/patchcore_fit.py

clean:
	rm -rf $(VENV) $(DEMO_DATA) models reports test-output
