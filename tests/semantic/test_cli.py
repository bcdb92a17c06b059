"""`emorec semantic ...`: every verb has --help; word2vec and align run end to end on tiny inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from emorec.cli import cli
from emorec.semantic.word2vec import load_keyed_vectors


@pytest.mark.parametrize("verb", ["word2vec", "speech2vec", "align", "features"])
def test_help(verb):
    result = CliRunner().invoke(cli, ["semantic", verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: cli semantic " + verb in result.output


def test_every_semantic_option_says_what_it_does():
    import click

    missing = [f"{name} {' / '.join(param.opts)}" for name, command in cli.commands["semantic"].commands.items()
               for param in command.params if isinstance(param, click.Option) and not param.help]
    assert missing == []


def test_word2vec_then_supervised_align(tmp_path):
    rng = np.random.default_rng(0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    vocabulary = [f"w{i}" for i in range(40)]
    lines = [" ".join(rng.choice(vocabulary[: 20 if k % 2 else 40], size=10)) for k in range(300)]
    (corpus / "a.txt").write_text("\n\n".join(lines))
    runner = CliRunner()
    arguments = ["semantic", "word2vec", str(corpus), str(tmp_path / "w2v.kv"), "--vector-size", "8",
                 "--min-count", "1", "--epochs", "2", "--neighbours", "w1,nope"]
    result = runner.invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    # By default a summary for a person, not JSON; --json gives the full report.
    assert "{" not in result.output and "40 words, 8 dimensions" in result.output, result.output
    assert "nope: not in the vocabulary" in result.output
    result = runner.invoke(cli, arguments + ["--json"])
    report = json.loads(result.output[result.output.index("{"):])
    assert report["vocabulary"] == 40 and report["neighbours"]["nope"] is None
    assert len(report["neighbours"]["w1"]) == 8
    # Aligning a space with itself: Procrustes on half the words must translate the other half.
    arguments = ["semantic", "align", str(tmp_path / "w2v.kv"), str(tmp_path / "w2v.kv"), str(tmp_path / "W.npy"),
                 "--supervised"]
    result = runner.invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert "precision@1: CSLS 1.000" in result.output and "chance 0.025" in result.output, result.output
    result = runner.invoke(cli, arguments + ["--json"])
    report = json.loads(result.output[result.output.index("{"):])
    assert report["evaluation"]["p@1_csls"] == 1.0 and report["evaluation"]["chance@1"] == pytest.approx(1 / 40)
    np.testing.assert_allclose(np.load(tmp_path / "W.npy"), np.eye(8), atol=1e-4)
    assert len(load_keyed_vectors(tmp_path / "w2v.kv")) == 40
