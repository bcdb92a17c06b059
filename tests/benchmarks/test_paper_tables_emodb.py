"""benchmarks/paper_tables_emodb.py and shipped_recipe_heldout.py: what their reports say."""
import json
from pathlib import Path

import pytest

from benchmarks import paper_tables_emodb as tables
from benchmarks import shipped_recipe_heldout


def score(mean, sd):
    return {"mean": mean, "sd": sd, "values": []}


def row(name, source, evaluation_boundaries, matched=None):
    entry = {"name": name, "semantic_source": source, "paralinguistic": source is None, "fusion": None,
             "evaluation_boundaries": evaluation_boundaries, "label_names": ["arousal"],
             "devel_ccc": {"arousal": score(0.5, 0.01), "mean": score(0.5, 0.01)},
             "test_ccc": {"arousal": score(0.4, 0.02), "mean": score(0.4, 0.02)}}
    if matched is not None:
        entry["devel_ccc_given_boundaries"] = {"mean": score(matched, 0.03)}
    return entry


def test_markdown_puts_both_protocols_of_a_semantic_row_side_by_side():
    result = {"command": "python -m benchmarks.paper_tables_emodb --seeds 3 --epochs 12", "machine": "2 CPU cores",
              "epochs": 12, "seeds": 3, "wall_s": 60.0,
              "tables": {"2": [row("table2_speech2vec", "speech2vec", "segmenter", matched=0.61),
                               row("table2_paralinguistic", None, None)]}}
    text = tables.markdown(result)
    speech2vec = next(line for line in text.splitlines() if line.startswith("| table2_speech2vec"))
    assert "| segmenter |" in speech2vec and "**0.500 ± 0.010**" in speech2vec and "| 0.610 ± 0.030 |" in speech2vec
    paralinguistic = next(line for line in text.splitlines() if line.startswith("| table2_paralinguistic"))
    assert paralinguistic.count("| - |") >= 2  # no semantic features, no given-boundary score
    assert "--seeds 3 --epochs 12" in text and "unsupervised" in text
    header, separator = [line for line in text.splitlines() if line.startswith("| config") or line.startswith("|---")]
    assert header.count("|") == separator.count("|") == speech2vec.count("|")  # a table markdown renders


def test_cell_without_sd_is_the_mean_alone():
    assert tables.cell({"mean": 0.25, "sd": None}) == "0.250"


def test_the_committed_table_is_the_one_its_results_file_generates():
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    result = json.loads((results / "paper_tables_emodb.json").read_text(encoding="utf-8"))
    assert result["command"].startswith(tables.COMMAND)
    if (results / "paper_tables_emodb.md").is_file():
        assert tables.markdown(result) == (results / "paper_tables_emodb.md").read_text(encoding="utf-8")


def test_shipped_recipe_check_reads_the_converters_label_map():
    targets = shipped_recipe_heldout.category_targets()
    assert set(targets) == {"anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"}
    assert targets["happiness"][1] == pytest.approx(0.92)  # the model card's table
    assert targets["anger"][0] == pytest.approx(0.73)
