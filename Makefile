PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ifndef RUN_DIR
RUN_DIR := runs/independent-$(shell date +%Y%m%d-%H%M%S)
endif

.PHONY: install run test benchmark

install: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[cpu,test,sweep]'
	$(BIN)/pip install -q --no-deps tf-keras==2.21.0
	touch $(STAMP)

# Train the Exp 1 agent, export it, evaluate it frozen next to baselines, plot.
run: $(STAMP)
	$(BIN)/python launch/bandits.py --flagfile=launch/configs/bandits_independent.cfg --run_dir=$(RUN_DIR)
	$(BIN)/python launch/evaluate.py --saved_model=$(RUN_DIR)/saved_model --task=independent --num_episodes=2000

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

benchmark: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
