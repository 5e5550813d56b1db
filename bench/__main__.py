"""`make bench`: print every benchmark table (python -m bench [ops|training|grading ...])."""
import importlib
import sys

SUITES = ["ops", "training", "grading"]


def main(argv):
    chosen = argv or SUITES
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise SystemExit(f"python -m bench: unknown suite(s) {unknown}; expected some of {SUITES}")
    for name in chosen:
        print(f"\n######## bench.{name}\n", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
