"""Training benchmark: the LeNet-style CNN vs an MLP on scikit-learn's 8x8 digits.

Both networks come from cnnlib.models and are trained with cnnlib.models.train_digits (Adam,
float32, the fixed train/test split), exactly as in the book. Printed: parameters, final
training loss, test accuracy, training seconds (the sum of fit's per-epoch times, test
scoring included).

fit runs the matrix products on one BLAS thread by default: the matrices of an 8x8-digit
network are small, and on a busy 2-core machine OpenBLAS's second thread made this benchmark
about 10x slower (measured in one session: 36 s with one thread, 353 s with the default two,
while other jobs ran). Set BENCH_BLAS_THREADS=0 to keep the BLAS default (or give a number).
"""
import os

import numpy as np

from cnnlib import models

TARGET_ACC, TARGET_SECONDS = 0.98, 60.0


def _run(name, build, seed, blas_threads):
    """Build with rng(seed), train with the course recipe; a result row."""
    model = build(np.random.default_rng(seed))
    history, acc = models.train_digits(model, rng=np.random.default_rng(seed), blas_threads=blas_threads)
    return {"model": name, "params": sum(p.value.size for p in model.parameters()),
            "epochs": len(history["loss"]), "loss": history["loss"][-1], "acc": acc,
            "seconds": sum(history["seconds"])}


def _table(rows):
    """The results as a plain-text table."""
    head = f"{'model':<34} {'params':>8} {'epochs':>6} {'final loss':>10} {'test acc':>9} {'train s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<34} {r['params']:>8,} {r['epochs']:>6} {r['loss']:>10.4f} "
                     f"{r['acc']:>9.2%} {r['seconds']:>8.1f}")
    return "\n".join(lines)


def main():
    """Train both networks; print the table and whether the target is met."""
    threads = int(os.environ.get("BENCH_BLAS_THREADS", "1"))
    blas_threads = threads if threads > 0 else None
    rows = [_run("LeNet-style CNN (lenet_digits)", models.lenet_digits, 0, blas_threads),
            _run("MLP 64-128-10 (mlp_digits)", models.mlp_digits, 0, blas_threads)]
    print("Digits 8x8 (1,347 train / 450 test), float32, Adam lr 2e-3, batch 32, seed 0, "
          f"BLAS threads: {threads if threads > 0 else 'default'}")
    print(_table(rows))
    cnn = rows[0]
    ok = cnn["acc"] >= TARGET_ACC and cnn["seconds"] <= TARGET_SECONDS
    print(f"\nTarget: CNN >= {TARGET_ACC:.0%} test accuracy in <= {TARGET_SECONDS:.0f} s of training: "
          f"{'met' if ok else 'NOT met'} ({cnn['acc']:.2%} in {cnn['seconds']:.1f} s)")
    return rows


if __name__ == "__main__":
    main()
