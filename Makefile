# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
XF := $(VENV)/bin/xfconvert
DEMO_DIR ?= demo_data

.PHONY: install demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e '.[test,dask]'

demo: install
	rm -rf $(DEMO_DIR)
	$(PY) -m xfconvert.testing $(DEMO_DIR)/r0001 --detector agipd --trains 20 --frames 4 --sequences 2
	$(XF) ls $(DEMO_DIR)/r0001
	$(XF) validate $(DEMO_DIR)/r0001
	mkdir -p $(DEMO_DIR)/out
	$(XF) convert $(DEMO_DIR)/r0001 --to euxfel -o $(DEMO_DIR)/out/xgm-subset.h5 --select '*_XGM/*' '*' --trains 0:10
	$(XF) convert $(DEMO_DIR)/r0001 --to virtual -o $(DEMO_DIR)/out/virtual.h5
	$(XF) cxi $(DEMO_DIR)/r0001 -o $(DEMO_DIR)/out/agipd.cxi
	$(XF) convert $(DEMO_DIR)/r0001 --to parquet -o $(DEMO_DIR)/out/slow.parquet --select '*_XGM/*' '*' --select '*/MOTOR/*' '*' --select '*/GAUGE/*' '*'
	$(XF) convert $(DEMO_DIR)/r0001 --to zarr -o $(DEMO_DIR)/out/run.zarr
	$(XF) validate $(DEMO_DIR)/out/xgm-subset.h5
	$(XF) validate $(DEMO_DIR)/out/virtual.h5
	$(PY) scripts/demo_report.py $(DEMO_DIR)/out

test: install
	$(PY) -m pytest -q

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info .pytest_cache .hypothesis
