# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
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
	$(VENV)/bin/xfconvert ls $(DEMO_DIR)/r0001
	$(VENV)/bin/xfconvert validate $(DEMO_DIR)/r0001

test: install
	$(PY) -m pytest -q

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info .pytest_cache .hypothesis
