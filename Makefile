# Two commands for a fresh machine (see README.md):
#   make demo   install into .venv and run the whole pipeline on the synthetic cohort
#   make test   install into .venv (plus R oracles and dcm2niix) and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
GPUS ?= 0
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install system-deps demo test bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel numpy==2.4.6
	# pyradiomics 3.0.1 has no wheel for Python 3.11 and fails to build in isolation.
	$(PY) -m pip install -q --no-build-isolation pyradiomics==3.0.1
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

system-deps:
	bash tests/setup_system.sh

demo: install
	snakemake --cores $(CORES) --resources gpu=$(GPUS)

test: install system-deps
	$(PY) -m pytest -q -ra

bench: install
	$(PY) bench/bench_pipeline.py
