"""Train the guide's CNN on CIFAR-10 and write the model with its model card.

Run ``python -m cnnviz_widgets.train --help`` for the options. The defaults reproduce the shipped model.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np

from .loading.checkpoints import DEFAULT_CHECKPOINT_DIR, MANIFEST_NAME, checkpoint_file_name, save_weights_npz
from .loading.cifar10 import find_cifar10, load_cifar10
from .loading.shipped_model import DEFAULT_CARD_PATH, DEFAULT_MODEL_PATH, build_cifar_cnn


def augment_batch(images, pad: int = 4, seed=None):
    """Random crop (reflect-padded by ``pad``) and horizontal flip of a float batch (N, H, W, C)."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    flipped = tf.where(
        tf.random.uniform([n, 1, 1, 1], seed=seed) < 0.5, tf.reverse(images, axis=[2]), images
    )
    if pad == 0:
        return flipped
    padded = tf.pad(flipped, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    # One gather per axis crops every image of the batch at its own offset; a per-image map_fn
    # would be several times slower on a CPU.
    offsets = tf.random.uniform([n, 2], 0, 2 * pad + 1, dtype=tf.int32, seed=seed)
    rows = offsets[:, :1] + tf.range(h)[None, :]
    cols = offsets[:, 1:] + tf.range(w)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)


def make_dataset(images, labels, batch_size=128, augment=True, pad=4, shuffle=True, seed=0):
    """A tf.data pipeline of (images scaled to [0, 1], labels); augmentation runs per batch."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32")))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        ds = ds.map(lambda x, y: (augment_batch(x, pad), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def compile_for_training(model, steps_per_epoch: int, epochs: int, lr: float = 2e-3,
                         weight_decay: float = 0.01):
    """AdamW with a short linear warm-up and cosine decay; sparse cross-entropy on probabilities."""
    import keras

    total = max(1, steps_per_epoch * epochs)
    warmup = min(steps_per_epoch, total // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10 if warmup else lr,
        decay_steps=total - warmup,
        warmup_target=lr if warmup else None,
        warmup_steps=warmup,
        alpha=0.01,
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    # Decay only the kernels: shrinking BatchNorm scales and biases only slows training.
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def evaluate(model, images, labels, batch_size: int = 500):
    """Accuracy, per-class accuracy and confusion matrix (rows true, columns predicted)."""
    from .compute import confusion_matrix

    cm = confusion_matrix(model, images, labels, batch_size=batch_size)
    per_class = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    return {
        "test_accuracy": float(np.trace(cm) / cm.sum()),
        "per_class_accuracy": [float(a) for a in per_class],
        "confusion_matrix": cm.tolist(),
    }


def strip_for_shipping(model, dropout: float):
    """A copy of the trained model with no optimizer state, so the file stays small."""
    clean = build_cifar_cnn(
        input_shape=tuple(model.input.shape[1:]),
        num_classes=int(model.output.shape[-1]),
        dropout=dropout,
    )
    clean.set_weights(model.get_weights())
    return clean


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m cnnviz_widgets.train",
        description="Train the guide's CNN on CIFAR-10 and write the model plus its model card.",
    )
    parser.add_argument("--epochs", type=int, default=45)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="train without random crop and flip")
    parser.add_argument("--pad", type=int, default=3, help="crop padding of the augmentation")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None,
                        help="folder with cifar-10-batches-py (default: $CNNVIZ_CIFAR10_DIR or the Keras cache)")
    parser.add_argument("--output", type=Path, default=DEFAULT_MODEL_PATH,
                        help="where to write the .keras file; the card goes beside it")
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only (for quick trials)")
    parser.add_argument("--checkpoints", type=_epoch_list, default=None, metavar="EPOCHS",
                        help="also save the weights after these epochs, e.g. 0,1,2,3,5,10 (0 is the "
                             "untrained model), with their test accuracy in a manifest")
    parser.add_argument("--checkpoint-dir", type=Path, default=DEFAULT_CHECKPOINT_DIR,
                        help="where the checkpoints and their manifest go")
    parser.add_argument("--stop-after", type=int, default=None, metavar="EPOCH",
                        help="stop after this epoch (the learning-rate schedule still spans --epochs); "
                             "the model and card are then not written, only the checkpoints")
    args = parser.parse_args(argv)
    if args.stop_after is not None and not 0 <= args.stop_after <= args.epochs:
        parser.error(f"--stop-after must be between 0 and --epochs ({args.epochs})")
    if args.checkpoints and max(args.checkpoints) > (args.stop_after if args.stop_after is not None
                                                    else args.epochs):
        parser.error("every checkpoint epoch must come before training stops")

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    x_train, y_train, class_names = load_cifar10("train", args.data_dir)
    x_test, y_test, _ = load_cifar10("test", args.data_dir)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]

    model = build_cifar_cnn(dropout=args.dropout)
    train_ds = make_dataset(x_train, y_train, args.batch_size, args.augment, args.pad, seed=args.seed)
    test_ds = make_dataset(x_test, y_test, 500, augment=False, shuffle=False)
    steps = int(np.ceil(len(x_train) / args.batch_size))
    compile_for_training(model, steps, args.epochs, lr=args.lr)

    saver = None
    if args.checkpoints:
        saver = CheckpointSaver(args.checkpoints, args.checkpoint_dir, x_test, y_test,
                                recipe=_command(argv if argv is not None else _argv()))
        if 0 in saver.epochs:
            saver.save(model, 0)
    callbacks = [_epoch_callback(model, saver, args.stop_after)]
    start = time.perf_counter()
    history = None
    if args.stop_after != 0:
        history = model.fit(train_ds, epochs=args.epochs, validation_data=test_ds,
                            validation_freq=5, verbose=1 if _is_tty() else 2, callbacks=callbacks)
    wall = time.perf_counter() - start
    if args.stop_after is not None and args.stop_after < args.epochs:
        print(f"stopped after epoch {args.stop_after} of {args.epochs}; the model and card are unchanged")
        return saver.manifest if saver is not None else None

    shipped = strip_for_shipping(model, args.dropout)
    result = evaluate(shipped, x_test, y_test)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    shipped.save(args.output)
    folder = find_cifar10(args.data_dir)
    card = {
        "model": "build_cifar_cnn() — the guide's CNN",
        "data": "CIFAR-10 test set, 10,000 images",
        **result,
        "class_names": class_names,
        "train_images": int(len(x_train)),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "augmentation": f"random crop (reflect pad {args.pad}) + horizontal flip" if args.augment else "none",
        "optimizer": f"AdamW, peak lr {args.lr}, weight decay 0.01 on kernels, 1 epoch warm-up, cosine decay",
        "dropout": args.dropout,
        "seed": args.seed,
        "final_train_accuracy": float(history.history["accuracy"][-1]),
        "wall_time_seconds": round(wall, 1),
        "command": _command(argv if argv is not None else _argv()),
        "data_sha256": {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()} if folder else {},
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
        },
        "machine": f"{platform.machine()}, CPU only",
    }
    card_path = args.output.with_suffix(".card.json") if args.output != DEFAULT_MODEL_PATH else DEFAULT_CARD_PATH
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    print(f"test accuracy {result['test_accuracy']:.4f}; wrote {args.output} and {card_path}")
    return card


def _epoch_list(text: str) -> list[int]:
    try:
        epochs = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected epochs such as 0,1,2,3,5,10, not {text!r}") from None
    if not epochs or epochs[0] < 0:
        raise argparse.ArgumentTypeError("epochs must be whole numbers from 0 up")
    return epochs


class CheckpointSaver:
    """Saves float16 weights after the chosen epochs and keeps a manifest of their test accuracy.

    The accuracy recorded is that of the weights as saved (float16), on the whole test set; the
    float32 accuracy sits beside it so the rounding's cost is on record.
    """

    def __init__(self, epochs, folder: Path, x_test, y_test, recipe=""):
        self.epochs = set(epochs)
        self.folder = Path(folder)
        self.x_test, self.y_test = x_test, y_test
        self.manifest = {"recipe": recipe, "data": f"CIFAR-10 test set, {len(y_test):,} images",
                         "weights": "float16", "checkpoints": {}}

    def save(self, model, epoch: int):
        # The weights are swapped in place and back rather than copied into a new model: building a
        # model would draw from the seeded random generators and change the rest of the run.
        self.folder.mkdir(parents=True, exist_ok=True)
        full = evaluate(model, self.x_test, self.y_test)["test_accuracy"]
        path = self.folder / checkpoint_file_name(epoch)
        save_weights_npz(model, path)
        kept = model.get_weights()
        model.set_weights([w.astype(np.float16).astype(w.dtype) for w in kept])
        rounded = evaluate(model, self.x_test, self.y_test)["test_accuracy"]
        model.set_weights(kept)
        self.manifest["checkpoints"][str(epoch)] = {
            "file": path.name, "test_accuracy": rounded, "test_accuracy_float32": full,
        }
        (self.folder / MANIFEST_NAME).write_text(json.dumps(self.manifest, indent=1) + "\n")
        print(f"checkpoint epoch {epoch}: test accuracy {rounded:.4f} (float32 {full:.4f}) -> {path.name}",
              flush=True)



def _epoch_callback(model, saver, stop_after):
    """A Keras callback that saves the checkpoints due after each epoch (``saver``, or None) and
    ends ``fit`` after epoch ``stop_after`` (counted from 1; None: never) while the learning-rate
    schedule keeps its full length."""
    import keras

    def on_epoch_end(epoch, logs=None):
        if saver is not None and epoch + 1 in saver.epochs:
            saver.save(model, epoch + 1)
        if stop_after is not None and epoch + 1 >= stop_after:
            model.stop_training = True

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def _command(argv) -> str:
    """The command line that reproduces this run, without the paths (they are the machine's own)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--output", "--data-dir", "--checkpoint-dir"):
            skip = True
        elif not arg.startswith(("--output=", "--data-dir=", "--checkpoint-dir=")):
            kept.append(arg)
    return " ".join(["python -m cnnviz_widgets.train", *kept])


def _argv():
    import sys

    return sys.argv[1:]


def _is_tty() -> bool:
    import sys

    return sys.stdout.isatty()


if __name__ == "__main__":
    main()


# ----- training -------------------------------------------------------------------------------------

def guide_architecture(model) -> bool:
    """True when ``model`` has the layers of ``build_cifar_cnn()`` (names, classes, weight shapes)."""
    try:
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        reference = _guide_signature(shape, int(model.outputs[0].shape[-1]))
    except (AttributeError, ValueError, TypeError, IndexError):
        return False
    return _signature(model) == reference


def _signature(model) -> tuple:
    return tuple((layer.name, type(layer).__name__, tuple(tuple(v.shape) for v in layer.weights))
                 for layer in model.layers)


@functools.lru_cache(maxsize=8)
def _guide_signature(input_shape, num_classes) -> tuple:
    """The layer signature of ``build_cifar_cnn`` for one input shape and class count: a few
    names and shapes (the model built to read them is not kept)."""
    return _signature(build_cifar_cnn(input_shape=input_shape, num_classes=num_classes))


def copy_guide_model(model):
    """A new, uncompiled ``build_cifar_cnn()`` holding a copy of ``model``'s weights (same dropout)."""
    if not guide_architecture(model):
        raise ValueError("the model is not this dashboard's CNN (build_cifar_cnn), so it cannot be copied")
    rate = float(model.get_layer("dense1_dropout").rate)
    clone = build_cifar_cnn(input_shape=tuple(int(d) for d in model.inputs[0].shape[1:]),
                            num_classes=int(model.outputs[0].shape[-1]), dropout=rate)
    clone.set_weights(model.get_weights())
    return clone


def train_epochs(model, images, labels, epochs: int, batch_size: int = 128, augment: bool = True,
                 test=None, on_epoch=None, should_stop=None, on_batch=None, lr: float = 2e-3, seed: int = 0):
    """Train ``model`` in place on uint8 images for ``epochs`` epochs and return it.

    Uses ``train.make_dataset`` (images scaled to [0, 1]; random crop and flip when ``augment``)
    and ``train.compile_for_training`` (AdamW, warm-up, cosine decay).

    Parameters
    ----------
    images : uint8 (N, H, W, C); labels : int (N,)
    test : (images, labels) evaluated after every epoch (``val_loss``, ``val_accuracy``), or None
    on_epoch : ``on_epoch(epoch, logs)`` after each epoch (epoch counts from 0); ``logs`` holds
        ``loss``, ``accuracy`` and, with ``test``, ``val_loss``, ``val_accuracy`` as floats
    on_batch : ``on_batch(batch, batches_per_epoch)`` after each training batch
    should_stop : a callable checked after every batch; training stops there when it returns True
        (a cut-short epoch is not reported to ``on_epoch``)

    Returns
    -------
    The same model object, trained (and compiled).
    """
    import keras

    images = np.asarray(images)
    labels = np.asarray(labels).reshape(-1)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (and at least one); got {len(images)} images "
                         f"and {len(labels)} labels")
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be at least 1")
    steps = int(np.ceil(len(images) / batch_size))
    train_ds = make_dataset(images, labels, batch_size, augment, seed=seed)
    test_ds = None
    if test is not None:
        test_ds = make_dataset(np.asarray(test[0]), np.asarray(test[1]).reshape(-1), 500,
                               augment=False, shuffle=False)
    compile_for_training(model, steps, epochs, lr=lr)

    class Stop(Exception):
        pass

    class Reporter(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if on_batch is not None:
                on_batch(batch + 1, steps)
            # Raising ends fit at once; `stop_training` would still finish the epoch's validation
            # pass and report a cut-short epoch as if it were whole.
            if should_stop is not None and should_stop():
                raise Stop()

        def on_epoch_end(self, epoch, logs=None):
            if on_epoch is not None:
                on_epoch(epoch, {k: float(v) for k, v in (logs or {}).items()})
            if should_stop is not None and should_stop():
                raise Stop()

    try:
        # The data set shuffles itself; fit's own shuffle does not apply to a tf.data pipeline.
        model.fit(train_ds, epochs=int(epochs), validation_data=test_ds, callbacks=[Reporter()], verbose=0,
                  shuffle=False)
    except Stop:
        pass
    return model
