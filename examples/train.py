"""A small, real training job checkpointed with recovery_lib.

Logistic regression by gradient descent on a synthetic two-class data set, in plain
Python. Three stages (``dataset`` → ``model`` → ``evaluate``) run through a ``Pipeline``,
so a finished stage is never run again; inside ``model`` every epoch is checkpointed, so a
job killed mid-training resumes from its last epoch, in whichever region is serving.

    python examples/train.py --platform platform.json          # or DR_PLATFORM=...
    python examples/train.py --store file:///tmp/ckpt --epochs 50
    python examples/train.py --store file:///tmp/ckpt --log-file train.log   # epochs logged there

The per-epoch INFO lines go to stderr, or to ``--log-file``; the one-line result to stdout.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
from typing import Any, Optional

from recovery_lib import CheckpointStore, Pipeline, RecoveryError

logger = logging.getLogger("examples.train")


def make_dataset(n: int = 400, seed: int = 7) -> dict[str, list]:
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(n):
        label = i % 2
        centre = (1.5, 1.0) if label else (-1.0, -1.5)
        xs.append([rng.gauss(centre[0], 1.0), rng.gauss(centre[1], 1.0)])
        ys.append(label)
    return {"x": xs, "y": ys}


def _predict(w: list[float], b: float, x: list[float]) -> float:
    z = w[0] * x[0] + w[1] * x[1] + b
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def _epoch(state: dict[str, Any], data: dict[str, list], lr: float) -> dict[str, Any]:
    w, b = list(state["w"]), state["b"]
    grad_w, grad_b, loss = [0.0, 0.0], 0.0, 0.0
    n = len(data["y"])
    for x, y in zip(data["x"], data["y"]):
        p = _predict(w, b, x)
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        grad_w[0] += (p - y) * x[0]
        grad_w[1] += (p - y) * x[1]
        grad_b += p - y
    w = [w[0] - lr * grad_w[0] / n, w[1] - lr * grad_w[1] / n]
    return {"epoch": state["epoch"] + 1, "w": w, "b": b - lr * grad_b / n, "loss": loss / n}


def build_pipeline(store: CheckpointStore, *, run_id: str = "default", epochs: int = 30, lr: float = 0.5) -> Pipeline:
    pipeline = Pipeline("sample-train", store, run_id=run_id)
    epoch_name = f"models/sample-train/{run_id}/epoch"

    @pipeline.stage
    def dataset() -> dict[str, list]:
        return make_dataset()

    @pipeline.stage
    def model(dataset: dict[str, list]) -> dict[str, Any]:
        state: dict[str, Any] = {"epoch": 0, "w": [0.0, 0.0], "b": 0.0, "loss": None}
        if store.exists(epoch_name):
            state = store.load(epoch_name)
            logger.info("resuming training at epoch %d", state["epoch"])
        while state["epoch"] < epochs:
            state = _epoch(state, dataset, lr)
            checkpoint = store.save(epoch_name, state, metadata={"epoch": state["epoch"], "loss": state["loss"]})
            logger.info("epoch %d loss %.4f (checkpoint %s in %s)", state["epoch"], state["loss"],
                        checkpoint.version, checkpoint.region)
        return state

    @pipeline.stage
    def evaluate(dataset: dict[str, list], model: dict[str, Any]) -> dict[str, float]:
        correct = sum(
            int((_predict(model["w"], model["b"], x) >= 0.5) == bool(y)) for x, y in zip(dataset["x"], dataset["y"])
        )
        return {"accuracy": correct / len(dataset["y"]), "loss": model["loss"]}

    return pipeline


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--platform", help="platform descriptor JSON (default: $DR_PLATFORM)")
    where.add_argument("--store", help="store URL: memory://, file://PATH, s3://bucket/prefix")
    parser.add_argument("--run-id", default="default")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--log-file", help="append the INFO log (one line per epoch) to this file instead of stderr")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        filename=args.log_file)
    try:
        if args.store:
            store = CheckpointStore.from_url(args.store)
        else:
            store = CheckpointStore.from_platform(args.platform)  # None: $DR_PLATFORM
        outputs = build_pipeline(store, run_id=args.run_id, epochs=args.epochs).run()
    except RecoveryError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    result = outputs["evaluate"]
    print(f"trained {args.epochs} epochs: accuracy {result['accuracy']:.3f}, loss {result['loss']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
