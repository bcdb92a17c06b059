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
               for param in command.get_params(click.Context(command))
               if isinstance(param, click.Option) and not param.help]
    assert missing == []


@pytest.mark.parametrize("verb, section", [("word2vec", "word2vec"), ("speech2vec", "speech2vec"),
                                           ("align", "alignment"), ("features", "segmenter")])
def test_semantic_hyper_parameters_come_from_the_config_only(verb, section):
    """No flag copies a field of the verb's config section under another name (`--restarts` for
    `adversarial_restarts`): --config and --set set them, so the names are the config's."""
    import click

    from emorec.config import ExperimentConfig, config_to_dict

    command = cli.commands["semantic"].commands[verb]
    flags = {opt.lstrip("-").replace("-", "_") for param in command.get_params(click.Context(command))
             for opt in param.opts + param.secondary_opts}
    fields = set(config_to_dict(getattr(ExperimentConfig().semantic, section)))
    assert {"config", "set"} <= flags
    assert flags & fields == set()


def test_a_copied_flag_is_gone(tmp_path):
    result = CliRunner().invoke(cli, ["semantic", "align", __file__, __file__, str(tmp_path / "W.npy"),
                                      "--restarts", "2"])
    assert result.exit_code == 2 and "No such option '--restarts'" in result.output


def test_word2vec_then_supervised_align(tmp_path):
    rng = np.random.default_rng(0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    vocabulary = [f"w{i}" for i in range(40)]
    lines = [" ".join(rng.choice(vocabulary[: 20 if k % 2 else 40], size=10)) for k in range(300)]
    (corpus / "a.txt").write_text("\n\n".join(lines))
    runner = CliRunner()
    arguments = ["semantic", "word2vec", str(corpus), str(tmp_path / "w2v.kv"),
                 "--set", "semantic.word2vec.vector_size=8", "--set", "semantic.word2vec.min_count=1", "--set", "semantic.word2vec.epochs=2",
                 "--neighbours", "w1,nope"]
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
                 "--set", "semantic.alignment.supervised=true"]
    result = runner.invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert "precision@1: CSLS 1.000" in result.output and "chance 0.025" in result.output, result.output
    result = runner.invoke(cli, arguments + ["--json"])
    report = json.loads(result.output[result.output.index("{"):])
    assert report["evaluation"]["p@1_csls"] == 1.0 and report["evaluation"]["chance@1"] == pytest.approx(1 / 40)
    np.testing.assert_allclose(np.load(tmp_path / "W.npy"), np.eye(8), atol=1e-4)
    assert len(load_keyed_vectors(tmp_path / "w2v.kv")) == 40
