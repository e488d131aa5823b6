"""Train a multilayer perceptron on the bundled 8x8 digits with the NumPy engine.

The script splits the 1,797 images 80/20 (stratified), trains a 64-64-32-10 ReLU network
with Adam, prints the loss and accuracy of every epoch and the final test accuracy. With
--out it also writes history.jsonl and checkpoint.npz there after every epoch, and with
--resume continues the run saved in --out.

Run: python examples/train_digits.py [--epochs 5] [--out runs/digits] [--resume]
"""

from __future__ import annotations

import argparse

from propagate.nn.data import load_digits
from propagate.nn.models import MLPSpec
from propagate.nn.train import TrainConfig, Trainer, split_data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="total epochs (default 5)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 0.003)")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, weights, shuffles")
    parser.add_argument("--out", help="folder for history.jsonl and checkpoint.npz (default: none)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    args = parser.parse_args(argv)
    if args.resume and not args.out:
        parser.error("--resume needs --out, the folder of the run to continue")

    config = TrainConfig(epochs=args.epochs, optimizer="adam", lr=args.lr, seed=args.seed)
    x, y = load_digits()
    data = split_data(x, y, "classification", config)
    if args.resume:
        trainer = Trainer.resume(args.out, data, epochs=args.epochs, progress=False)
        print(f"resumed {args.out} after epoch {trainer.epoch}")
    else:
        spec = MLPSpec(data.n_features, (64, 32), data.n_outputs, activation="relu")
        trainer = Trainer(spec, data, config, out_dir=args.out, progress=False)
    print(f"{len(data.x_train)} training and {len(data.x_test)} test images, "
          f"network {'-'.join(map(str, trainer.spec.sizes))}")

    for record in trainer.fit():
        print(
            f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f}  "
            f"train accuracy {record['train_accuracy']:.1%}  "
            f"test accuracy {record['test_accuracy']:.1%}"
        )

    final = trainer.evaluate(data.x_test, data.y_test)
    print(f"test accuracy {final['accuracy']:.4f} after {trainer.epoch} epochs")
    if args.out:
        print(f"checkpoint: {trainer.checkpoint_path}")


if __name__ == "__main__":
    main()
