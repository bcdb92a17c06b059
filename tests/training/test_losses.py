"""Equation 8 against a numpy reference, with masks; the compiled loss of a model against it."""
import numpy as np
import pytest

from emorec.training.losses import ccc_loss, masked_ccc


def numpy_ccc(x, y):
    """Independent reference: CCC = 2 rho sx sy / (sx^2 + sy^2 + (mx - my)^2) (Lin, 1989)."""
    rho = np.corrcoef(x, y)[0, 1]
    return 2 * rho * x.std() * y.std() / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def numpy_loss(labels, predictions, mask):
    keep = mask.reshape(-1) > 0
    flat_l = labels.reshape(-1, labels.shape[-1])[keep]
    flat_p = predictions.reshape(-1, labels.shape[-1])[keep]
    return np.mean([1 - numpy_ccc(flat_l[:, d], flat_p[:, d]) for d in range(labels.shape[-1])])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ccc_loss_matches_numpy_with_masks(seed):
    rng = np.random.default_rng(seed)
    labels = rng.normal(size=(4, 12, 3)).astype(np.float32)
    predictions = (0.6 * labels + rng.normal(0.3, 0.8, size=labels.shape)).astype(np.float32)
    mask = (rng.uniform(size=(4, 12)) > 0.3).astype(np.float32)
    # Garbage in masked frames must not matter.
    labels_garbage = np.where(mask[..., None] > 0, labels, 1e3).astype(np.float32)
    expected = numpy_loss(labels, predictions, mask)
    got = float(ccc_loss(labels_garbage, predictions, mask))
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_dimensions_weigh_the_same():
    rng = np.random.default_rng(5)
    labels = rng.normal(size=(2, 20, 3)).astype(np.float32)
    mask = np.ones((2, 20), np.float32)
    per_dim = [1 - float(masked_ccc(labels[..., d], labels[..., d] * s, mask)) for d, s in enumerate((1.0, 0.5, -1.0))]
    predictions = labels * np.array([1.0, 0.5, -1.0], np.float32)
    assert float(ccc_loss(labels, predictions, mask)) == pytest.approx(np.mean(per_dim), rel=1e-5)
    assert per_dim[0] == pytest.approx(0.0, abs=1e-5)


def test_compiled_model_loss_is_equation_8():
    """The loss model.fit optimises (one loss per output, weights 1/D) equals eq. 8 on the batch."""
    import keras

    from emorec.config import CNNConfig, ModelConfig
    from emorec.models import build_model
    from emorec.training.train import compile_model

    keras.utils.set_random_seed(0)
    names = ["arousal", "valence"]
    model = build_model(ModelConfig(cnn=CNNConfig(filters=(4, 4, 4)), lstm_units=4), names)
    compile_model(model, names, 1e-4, 5.0)
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, size=(3, 5, 2205)).astype(np.float32)
    labels = rng.normal(size=(3, 5, 2)).astype(np.float32)
    mask = (rng.uniform(size=(3, 5)) > 0.25).astype(np.float32)
    targets = {n: np.stack([labels[..., d], mask], -1) for d, n in enumerate(names)}
    outputs = model({"audio": audio}, training=False)
    predictions = np.stack([np.asarray(outputs[n]) for n in names], -1)
    loss = model.evaluate({"audio": audio}, targets, batch_size=3, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(numpy_loss(labels, predictions, mask), rel=1e-4)
