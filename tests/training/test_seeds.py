"""Multi-seed runs: `emorec train --seeds N` writes one run per seed and mean ± sd per dimension;
evaluating the folder scores every seed."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from emorec.cli import cli
from emorec.config import save_config
from emorec.training.seeds import aggregate_ccc, best_devel_ccc, format_mean_sd, mean_sd, train_seeds
from emorec.training.run_folder import read_history


def test_aggregate_is_mean_and_sample_sd():
    summary = aggregate_ccc({1: {"a": 0.2, "mean": 0.2}, 0: {"a": 0.4, "mean": 0.4}}, ["a"])
    assert summary["seeds"] == [0, 1]
    assert summary["ccc"]["a"] == {"mean": pytest.approx(0.3), "sd": pytest.approx(np.sqrt(0.02)), "values": [0.4, 0.2]}
    assert aggregate_ccc({0: {"a": 0.4, "mean": 0.4}}, ["a"])["ccc"]["a"]["sd"] is None


def test_mean_sd_is_the_sample_sd_and_none_for_one_seed():
    mean, sd = mean_sd([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7) and sd == pytest.approx(np.std([0.5, 0.7, 0.9], ddof=1))
    assert mean_sd([0.25]) == (0.25, None)
    assert format_mean_sd(0.5, 0.01) == "0.500 ± 0.010" and format_mean_sd(0.25, None) == "0.250"
    assert format_mean_sd(0.5, 0.01, digits=4) == "0.5000 ± 0.0100"


@pytest.mark.slow
def test_train_two_seeds_then_evaluate_the_folder(tiny_run_data, tiny_experiment, tmp_path):
    from emorec.evaluation import evaluate_run

    config_path = tmp_path / "config.yaml"
    save_config(tiny_experiment(epochs=3, seed=5), config_path)
    run_dir = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["train", "--config", str(config_path), "--data", str(tiny_run_data),
                                      "--run-dir", str(run_dir), "--seeds", "2", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "± " in result.output and "seeds 5, 6" in result.output
    summary = json.loads((run_dir / "seeds.json").read_text())
    assert summary["seeds"] == [5, 6]
    label_names = summary["label_names"]
    per_seed = {}
    for seed in (5, 6):
        folder = run_dir / f"seed-{seed}"
        history = read_history(folder)
        assert len(history["epoch"]) == 1  # --epochs reached every seed
        per_seed[seed] = best_devel_ccc(history, label_names)
        assert json.loads((folder / "best.json").read_text())["best"] == pytest.approx(per_seed[seed]["mean"])
    assert per_seed[5] != per_seed[6]  # the seeds really differ
    for key in [*label_names, "mean"]:
        values = [per_seed[5][key], per_seed[6][key]]
        assert summary["devel"]["ccc"][key]["mean"] == pytest.approx(np.mean(values))
        assert summary["devel"]["ccc"][key]["sd"] == pytest.approx(np.std(values, ddof=1))

    # A rerun keeps the finished seeds (no retraining, same numbers).
    again = train_seeds(tiny_experiment(epochs=1, seed=5), tiny_run_data, run_dir, 2, echo=None)
    assert again["devel"] == summary["devel"]

    scores = evaluate_run(run_dir, tiny_run_data, "test", plot=False, postprocess=False, echo=None)
    assert scores["seeds"] == [5, 6]
    folder = f"{tiny_run_data.resolve().name}-test"  # evaluation folders are keyed by data folder and partition
    test_scores = [json.loads((run_dir / f"seed-{s}" / "evaluation" / folder / "scores.json").read_text())["ccc_raw"]
                   for s in (5, 6)]
    for key in [*label_names, "mean"]:
        assert scores["ccc_raw"][key]["values"] == pytest.approx([s[key] for s in test_scores])
        assert scores["ccc_raw"][key]["mean"] == pytest.approx(np.mean([s[key] for s in test_scores]))
    assert (run_dir / "evaluation" / folder / "seed_scores.json").is_file()
