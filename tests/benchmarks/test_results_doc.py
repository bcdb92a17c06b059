"""docs/results.md is what `python -m benchmarks.results_doc` generates from benchmarks/results/*.json,
so no figure in it can drift from its results file."""
from benchmarks import results_doc


def test_results_page_is_generated_from_the_results_files():
    assert results_doc.DOC.read_text(encoding="utf-8") == results_doc.render(), \
        "docs/results.md is stale: run python -m benchmarks.results_doc"


def test_every_section_names_command_machine_and_date():
    text = results_doc.render()
    for heading, names, _ in results_doc.SECTIONS:
        for name in names:
            line = next(line for line in text.splitlines() if f"`benchmarks/results/{name}`" in line)
            assert "written by `python -m benchmarks." in line and "2026-" in line, line


def test_machine_names_the_speed_flags_it_has():
    assert results_doc.machine({"cpu_count": 2, "cpu_flags": ["fpu", "avx2", "fma", "avx512_bf16"]}) == \
        "2 CPU cores; CPU flags avx2, fma, avx512_bf16"
    assert results_doc.machine({}) == "a machine not recorded; CPU flags not recorded"


def system(kind, mean, sd=None, devel=0.0, speaker=False):
    return {"kind": kind, "name": f"{kind} {mean}; scored per utterance", "test_ccc_mean": mean,
            "test_ccc_mean_sd": sd, "devel_ccc_mean": devel, "speaker_statistics": speaker,
            "scored_on": "utterances" if kind == "model" else None}


def test_model_against_baseline_states_the_sd():
    systems = [system("baseline", 0.70), system("baseline", 0.71),
               system("model", 0.73, 0.024, devel=0.9), system("model", 0.80, 0.01, devel=0.1)]
    # The model chosen on devel (0.73), not the best on test (0.80), against the better baseline.
    assert results_doc._against_baseline(systems) == [
        "- Without speaker statistics, per utterance: the model chosen on devel (model 0.73) scores 0.730 ± 0.024 "
        "against the better baseline's 0.710: within one sd of it."]


def test_paper_ordering_is_stated_as_measured():
    def row(name, devel):
        ccc = {"mean": {"mean": devel, "sd": 0.01}}
        return {"name": name, "devel_ccc": ccc, "test_ccc": ccc, "evaluation_boundaries": "segmenter"}

    result = {"tables": {"2": [row("table2_aligned_speech2vec", 0.54), row("table2_speech2vec", 0.56)]}}
    assert ("the paper found table2_aligned_speech2vec above table2_speech2vec; here 0.540 against 0.560 devel "
            "mean CCC: not reproduced.") in results_doc.paper_tables(result)
