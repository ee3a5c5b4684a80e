PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ifndef RUN_DIR
RUN_DIR := runs/independent-$(shell date +%Y%m%d-%H%M%S)
endif

.PHONY: install run test benchmark

install: $(STAMP)

# The known-good set: ranges in setup.py, exact versions in constraints.txt.
# tensorflow-serving-api (warmup requests, launch/serve_client.py over gRPC)
# goes in without its dependencies: its metadata asks for the full
# `tensorflow`, a second TensorFlow build next to tensorflow-cpu.
$(STAMP): setup.py constraints.txt Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python 3.11 or newer is needed ($(PYTHON) is $$($(PYTHON) -V 2>&1))" >&2; exit 2; }
	$(PYTHON) -m venv --clear $(VENV)  # afresh: no package of an older set stays
	$(BIN)/pip install -q -c constraints.txt -e '.[cpu,test,sweep,gym,analysis]'
	$(BIN)/pip install -q --no-deps -c constraints.txt tensorflow-serving-api
	touch $(STAMP)

# Train the Exp 1 agent, export it, evaluate it frozen next to baselines, plot.
run: $(STAMP)
	$(BIN)/python launch/bandits.py --flagfile=launch/configs/bandits_independent.cfg --run_dir=$(RUN_DIR)
	$(BIN)/python launch/evaluate.py --saved_model=$(RUN_DIR)/saved_model --task=independent --num_episodes=2000

# Two pytest workers (pytest-xdist): the suite in about 9.5 minutes on 2 cores
# instead of 15.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

benchmark: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
