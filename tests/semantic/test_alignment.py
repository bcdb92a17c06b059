"""Alignment on a synthetic task with a known answer: target = source rotated by a random R."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.semantic.alignment import (
    AlignmentConfig, adversarial_mapping, align, apply_mapping, build_dictionary, csls_scores,
    csls_translate, precision_at_k, procrustes, unsupervised_criterion)


def synthetic_pair(n: int = 2000, dim: int = 5, clusters: int = 12, seed: int = 0):
    """Clustered, anisotropic source vectors (an isotropic Gaussian would match itself under every
    rotation, leaving the adversarial game nothing to find) and their rotation by a random proper
    rotation R (det +1)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)) * 3 * np.linspace(1.5, 0.5, dim)
    weights = rng.dirichlet(np.full(clusters, 2.0))
    members = rng.choice(clusters, size=n, p=weights)
    X = centres[members] + rng.standard_normal((n, dim)) * np.linspace(1.2, 0.4, dim)
    X /= np.linalg.norm(X, axis=1).mean()
    R, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    if np.linalg.det(R) < 0:
        R[:, 0] *= -1
    return X.astype(np.float32), (X @ R.T).astype(np.float32), R


IDENTITY_PAIRS = [(i, i) for i in range(2000)]


def test_procrustes_recovers_rotation_from_paired_rows():
    X, Y, R = synthetic_pair(dim=20)
    W = procrustes(X[:300], Y[:300])
    np.testing.assert_allclose(W, R, atol=1e-4)
    np.testing.assert_allclose(W @ W.T, np.eye(20), atol=1e-5)
    assert precision_at_k(X, Y, W, IDENTITY_PAIRS, k=1) >= 0.99


def test_precision_at_k_against_brute_force_nn():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 4)).astype(np.float32)
    Y = rng.standard_normal((40, 4)).astype(np.float32)
    W = np.eye(4, dtype=np.float32)
    pairs = [(i, i % 40) for i in range(50)]
    cos = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (Y / np.linalg.norm(Y, axis=1, keepdims=True)).T
    for k in (1, 5):
        topk = np.argsort(-cos, axis=1)[:, :k]
        expected = np.mean([p[1] in topk[p[0]] for p in pairs])
        assert precision_at_k(X, Y, W, pairs, k=k, method="nn") == pytest.approx(expected)


def test_csls_matches_definition():
    rng = np.random.default_rng(2)
    S = rng.standard_normal((30, 6)).astype(np.float32)
    T = rng.standard_normal((25, 6)).astype(np.float32)
    s = S / np.linalg.norm(S, axis=1, keepdims=True)
    t = T / np.linalg.norm(T, axis=1, keepdims=True)
    cos = s @ t.T
    k = 3
    r_t = np.sort(cos, axis=1)[:, -k:].mean(1)
    r_s = np.sort(cos.T, axis=1)[:, -k:].mean(1)
    expected = 2 * cos - r_t[:, None] - r_s[None, :]
    np.testing.assert_allclose(csls_scores(S, T, k), expected, atol=1e-5)
    np.testing.assert_array_equal(csls_translate(S, T, k, top=2), np.argsort(-expected, axis=1)[:, :2])


def test_mutual_nn_dictionary_is_identity_when_aligned():
    X, Y, R = synthetic_pair(n=500, dim=10)
    pairs = build_dictionary(apply_mapping(X, R), Y, most_frequent=500)
    assert len(pairs) >= 480
    assert np.mean(pairs[:, 0] == pairs[:, 1]) >= 0.99


def test_refinement_from_a_perturbed_start_reaches_rotation():
    X, Y, R = synthetic_pair(n=1000, dim=10)
    rng = np.random.default_rng(3)
    noisy, _ = np.linalg.qr(R + 0.15 * rng.standard_normal(R.shape))
    noisy *= np.sign(np.diag(noisy.T @ R))  # keep the columns' signs near R's
    pairs = [(i, i) for i in range(len(X))]
    config = AlignmentConfig(adversarial=False, refinement_iterations=5)
    assert precision_at_k(X, Y, noisy, pairs, k=1) < 0.9
    W = align(X, Y, config, initial_W=noisy)
    assert precision_at_k(X, Y, W, pairs, k=1) >= 0.99


@pytest.fixture(scope="module")
def adversarial_result():
    X, Y, R = synthetic_pair(dim=5)
    # Two games (the identity start and a random one) of 3 epochs: each reaches R within 3 epochs
    # (P@1 0.96-0.99); a third restart and 6 epochs only cost time.
    config = AlignmentConfig(adversarial_epochs=3, adversarial_restarts=2, iterations_per_epoch=300, batch_size=64,
                             discriminator_hidden=128, discriminator_input_dropout=0.0,
                             orthogonalisation="project", refinement_iterations=0, seed=0)
    return X, Y, R, adversarial_mapping(X, Y, config)


@pytest.mark.slow
def test_adversarial_stage_alone_recovers_rotation(adversarial_result):
    X, Y, R, W = adversarial_result
    assert precision_at_k(X, Y, np.eye(5), IDENTITY_PAIRS, k=1) < 0.05  # the task is not trivial
    assert precision_at_k(X, Y, W, IDENTITY_PAIRS, k=1) >= 0.9
    assert np.linalg.norm(W - R) < 0.1


@pytest.mark.slow
def test_refinement_after_adversarial_keeps_precision(adversarial_result):
    X, Y, R, W = adversarial_result
    refined = align(X, Y, AlignmentConfig(refinement_iterations=3), initial_W=W)
    assert precision_at_k(X, Y, refined, IDENTITY_PAIRS, k=1) >= 0.99 * precision_at_k(X, Y, W, IDENTITY_PAIRS, k=1)
    assert unsupervised_criterion(X, Y, refined) >= unsupervised_criterion(X, Y, W) - 1e-6


def test_linear_map_keeps_its_preprocessing(tmp_path):
    from emorec.semantic.alignment import LinearMap, center_and_normalise, normalise_rows

    X, Y, R = synthetic_pair(n=200, dim=6)
    linear_map = LinearMap(R.astype(np.float32), normalise_rows(X).mean(0))
    linear_map.save(tmp_path / "alignment.npy")
    loaded = LinearMap.load(tmp_path / "alignment.npy")
    np.testing.assert_allclose(loaded.apply(X), center_and_normalise(X) @ R.T, atol=1e-5)
    # A bare .npy (no sidecar) is a plain matrix.
    np.save(tmp_path / "plain.npy", R)
    np.testing.assert_allclose(LinearMap.load(tmp_path / "plain.npy").apply(X), X @ R.T, atol=1e-5)


def test_restarts_are_chosen_on_the_refined_criterion_without_gold_pairs(monkeypatch):
    """The adversarial criterion can prefer a wrong rotation; the candidate kept is the one whose
    refined criterion is best, which no gold pair informs."""
    from emorec.semantic import alignment

    X, Y, R = synthetic_pair(dim=20)
    wrong, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((20, 20)))
    near, _ = np.linalg.qr(R + 0.05 * np.random.default_rng(6).standard_normal((20, 20)))
    assert precision_at_k(X, Y, wrong, IDENTITY_PAIRS, k=1) < 0.05
    assert precision_at_k(X, Y, near, IDENTITY_PAIRS, k=1) < 0.5  # refinement has work to do
    candidates = [(wrong.astype(np.float32), 0.99), (near.astype(np.float32), 0.10)]  # adversarial scores
    monkeypatch.setattr(alignment, "adversarial_candidates", lambda *args, **kwargs: list(candidates))

    W = align(X, Y, AlignmentConfig(adversarial_restarts=2, refinement_iterations=3), progress=False)
    assert precision_at_k(X, Y, W, IDENTITY_PAIRS, k=1) >= 0.99
    assert adversarial_mapping(X, Y, AlignmentConfig(adversarial_restarts=2), progress=False) is candidates[0][0]
