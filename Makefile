# The two commands of the README's Quick start, and a few more.
.PHONY: bootstrap readiness test test-unit bench lock

bootstrap:
	@scripts/bootstrap

readiness: bootstrap
	.venv/bin/procops readiness --keep

# The suite's files spread over WORKERS processes (pytest-xdist; a file stays on one worker, so its
# module fixtures are started once): most tests wait on real servers, so more workers than cores help.
WORKERS ?= 4

test: bootstrap
	.venv/bin/python -m pytest -n $(WORKERS) --dist loadfile

test-unit: bootstrap
	.venv/bin/python -m pytest tests/unit

bench: bootstrap
	for b in bench/*.py; do case $$b in */_*) ;; *) echo "== $$b"; .venv/bin/python $$b;; esac; done

# Re-pin requirements.lock from pyproject.toml in a throwaway venv.
lock:
	scripts/lock
