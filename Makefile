# The two set-up commands are in the README; this file only names the
# longer-running jobs.
.PHONY: test bench
test:
	bash scripts/test.sh
bench:
	bash scripts/bench.sh $(BENCH_ARGS)
