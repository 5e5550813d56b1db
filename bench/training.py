"""Training benchmark: the LeNet-style CNN vs an MLP on scikit-learn's 8x8 digits.

Both networks come from cnnlib.models and are trained with cnnlib.models.train_digits (Adam,
float32, the fixed train/test split), exactly as in the book. Printed: parameters, final
training loss, test accuracy, training seconds (the sum of fit's per-epoch times, test
scoring included).

fit chooses its BLAS threads itself (one: the matrices of an 8x8-digit network are small, and
on a busy machine a second OpenBLAS thread made this benchmark about 10x slower).
"""
import numpy as np

from cnnlib import models

TARGET_ACC, TARGET_SECONDS = 0.98, 60.0


def _run(name, build, seed):
    """Build with rng(seed), train with the course recipe; a result row."""
    model = build(np.random.default_rng(seed))
    history, acc = models.train_digits(model, rng=np.random.default_rng(seed))
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
    rows = [_run("LeNet-style CNN (lenet_digits)", models.lenet_digits, 0),
            _run("MLP 64-128-10 (mlp_digits)", models.mlp_digits, 0)]
    print("Digits 8x8 (1,347 train / 450 test), float32, Adam lr 2e-3, batch 32, seed 0")
    print(_table(rows))
    cnn = rows[0]
    ok = cnn["acc"] >= TARGET_ACC and cnn["seconds"] <= TARGET_SECONDS
    print(f"\nTarget: CNN >= {TARGET_ACC:.0%} test accuracy in <= {TARGET_SECONDS:.0f} s of training: "
          f"{'met' if ok else 'NOT met'} ({cnn['acc']:.2%} in {cnn['seconds']:.1f} s)")
    return rows


if __name__ == "__main__":
    main()
