# The two commands of the README's Quick start, and a few more.
.PHONY: bootstrap readiness test test-unit bench lock

bootstrap:
	@scripts/bootstrap

readiness: bootstrap
	.venv/bin/procops readiness

test: bootstrap
	.venv/bin/python -m pytest

test-unit: bootstrap
	.venv/bin/python -m pytest tests/unit

bench: bootstrap
	for b in bench/*.py; do case $$b in */_*) ;; *) echo "== $$b"; .venv/bin/python $$b;; esac; done

# Re-pin requirements.lock from pyproject.toml in a throwaway venv.
lock:
	scripts/lock
