"""benchmarks/paper_tables_emodb.py and shipped_recipe_heldout.py: what their reports say."""
import pytest

from benchmark_scripts import load_benchmark_script  # tests/benchmarks/ is on sys.path (no __init__.py)

tables = load_benchmark_script("paper_tables_emodb")


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
    result = {"command": "python benchmarks/paper_tables_emodb.py --seeds 3 --epochs 12", "machine": "2 CPU cores",
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


def test_shipped_recipe_check_reads_the_converters_label_map():
    heldout = load_benchmark_script("shipped_recipe_heldout")
    targets = heldout.category_targets()
    assert set(targets) == {"anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"}
    assert targets["happiness"][1] == pytest.approx(0.92)  # the model card's table
    assert targets["anger"][0] == pytest.approx(0.73)
