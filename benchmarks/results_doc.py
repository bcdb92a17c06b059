"""docs/results.md, generated from benchmarks/results/*.json: every measured figure the docs state.

    python -m benchmarks.results_doc [--check]

Each section names the command that wrote its results file, the machine it ran on and the date.
`tests/benchmarks/test_results_doc.py` regenerates the page and fails on any difference, so a
figure in the docs cannot drift from its file. `--check` does the same from the command line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from emorec.training.hardware import SPEED_RELEVANT_CPU_FLAGS, speed_relevant_cpu_flags
from emorec.training.seeds import format_mean_sd as mean_sd

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DOC = REPO / "docs" / "results.md"
COMMAND = "python -m benchmarks.results_doc"
#: What the paper found, against which the EmoDB tables are read (Tzirakis et al. 2021, Tables 2, 3).
PAPER_ORDER = {"2": ("table2_aligned_speech2vec", "table2_speech2vec"), "3": ("table3_attention", "table3_concatenation")}


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def f3(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def machine(result: dict) -> str:
    """The machine as the results file records it (files differ in how much they record)."""
    recorded = result.get("machine")
    flags = result.get("cpu_flags") or (recorded.get("cpu_flags") if isinstance(recorded, dict) else None) \
        or (result.get("cpu") or {}).get("flags")
    cores = result.get("cpu_count") or result.get("cpu_cores") or result.get("cpus") \
        or (recorded.get("cpus") if isinstance(recorded, dict) else None) or (result.get("cpu") or {}).get("logical_cpus")
    parts = [recorded] if isinstance(recorded, str) else ([f"{cores} CPU cores"] if cores else ["a machine not recorded"])
    if flags:
        parts.append("CPU flags " + (", ".join(speed_relevant_cpu_flags(set(flags)))
                                     or "without " + "/".join(SPEED_RELEVANT_CPU_FLAGS)))
    else:
        parts.append("CPU flags not recorded")
    return "; ".join(parts)


def source(result: dict, name: str) -> str:
    """The line under each heading: which file, which command, which machine, which date."""
    return (f"`benchmarks/results/{name}`, written by `{result.get('command', 'not recorded')}` on "
            f"{machine(result)}, {result.get('date', 'date not recorded')}.")


def cross_corpus(result: dict) -> str:
    metrics = ("ccc_arousal", "ccc_valence", "auc_arousal", "auc_valence")
    rows = []
    for system in result["systems"]:
        for corpus, scores in {**system["held_out"], "**mean**": system["mean"]}.items():
            name = system["name"] + (" (chosen on devel)" if system.get("chosen") else "")
            rows.append([name, corpus, *(f3(scores[key]) for key in metrics)])
    models = [system for system in result["systems"] if system["kind"] == "model"]
    status = ("Model recipes measured: " + ", ".join(s["name"] for s in models) + "." if models else
              "No model recipe has been measured on all four held-out corpora yet: only the baseline rows.")
    return "\n\n".join([
        "Train on three corpora, choose on their held-out speakers, test on every file of the fourth, one "
        "output per file. AUC arousal: {anger, happiness} against {neutral, sadness}; AUC valence: "
        "{happiness, neutral} against {anger, sadness}.",
        table(["system", "held-out corpus", "CCC arousal", "CCC valence", "AUC arousal", "AUC valence"], rows),
        status])


def _protocol(system: dict) -> str:
    statistics_ = "speaker statistics" if system.get("speaker_statistics") else "no speaker statistics"
    scored = "per utterance" if system.get("scored_on") == "utterances" or system["kind"] == "baseline" else "sessions"
    return f"{statistics_}, {scored}"


def _budget(system: dict) -> str:
    if system["kind"] == "baseline":
        return "refit on train + devel" if system.get("refit_on_devel") else "trained on train"
    return f"{len(system['seeds'])} seeds, {system['epochs']} epochs"


def emodb_accuracy(result: dict) -> str:
    labels = result["label_names"]
    # The protocol has a column of its own: the name's part after ";" restates it.
    rows = [[system["name"].split(";")[0], _protocol(system), _budget(system),
             *(mean_sd(system["test_ccc"][label], (system.get("test_ccc_sd") or {}).get(label) or None)
               for label in labels),
             mean_sd(system["test_ccc_mean"], system.get("test_ccc_mean_sd"))] for system in result["systems"]]
    return "\n\n".join([
        "Speaker-independent split train 03 08 09 10 12 13 / devel 11 14 / test 15 16; test CCC pooled over "
        "frames (population variance). Models: mean ± sd over seeds, each seed's best devel epoch. *Per "
        "utterance*: one output per utterance (`emorec evaluate --pool recording`), the baseline's protocol; "
        "*sessions*: frame outputs on sessions of 10 utterances. *Speaker statistics*: something is computed "
        "over a test speaker's other (unlabelled) recordings.",
        table(["system", "protocol", "trained", *labels, "mean"], rows),
        "\n".join(_against_baseline(result["systems"]))])


def _against_baseline(systems: List[dict]) -> List[str]:
    """Per protocol, the model chosen on devel against the better baseline, with the sd stated."""
    lines = []
    for speaker in (False, True):
        baselines = [s for s in systems if s["kind"] == "baseline" and s["speaker_statistics"] == speaker]
        models = [s for s in systems if s["kind"] == "model" and s.get("scored_on") == "utterances"
                  and s["speaker_statistics"] == speaker]
        if not baselines or not models:
            continue
        best_baseline = max(baselines, key=lambda s: s["test_ccc_mean"])
        chosen = max(models, key=lambda s: s["devel_ccc_mean"])
        gap, sd = chosen["test_ccc_mean"] - best_baseline["test_ccc_mean"], chosen.get("test_ccc_mean_sd") or 0.0
        verdict = ("above it by more than one sd" if gap > sd else "below it by more than one sd" if gap < -sd
                   else "within one sd of it")
        lines.append(f"- {'With' if speaker else 'Without'} speaker statistics, per utterance: the model chosen on "
                     f"devel ({chosen['name'].split(';')[0]}) scores {mean_sd(chosen['test_ccc_mean'], sd)} against the better "
                     f"baseline's {f3(best_baseline['test_ccc_mean'])}: {verdict}.")
    return lines


def paper_tables(result: dict) -> str:
    rows, means = [], {}
    for number, entries in sorted(result["tables"].items()):
        for row in entries:
            devel, given, test = row["devel_ccc"]["mean"], row.get("devel_ccc_given_boundaries"), row["test_ccc"]["mean"]
            means[row["name"]] = devel["mean"]
            rows.append([number, row["name"], row.get("evaluation_boundaries") or "-",
                         mean_sd(devel["mean"], devel["sd"]),
                         "-" if not given else mean_sd(given["mean"]["mean"], given["mean"]["sd"]),
                         mean_sd(test["mean"], test["sd"])])
    findings = []
    for number, (paper_better, paper_worse) in PAPER_ORDER.items():
        if paper_better in means and paper_worse in means:
            holds = means[paper_better] > means[paper_worse]
            findings.append(f"- Table {number}: the paper found {paper_better} above {paper_worse}; here "
                            f"{f3(means[paper_better])} against {f3(means[paper_worse])} devel mean CCC: "
                            f"{'reproduced' if holds else 'not reproduced'}.")
    return "\n\n".join([
        "Each `configs/paper/` config on EmoDB sessions, mean ± sd over seeds, epoch chosen on devel with the "
        "boundaries it is scored with. Semantic rows train on the transcript's word boundaries and are scored "
        "*audio only* (transcript-free segmenter); *given at eval* scores the same runs with the transcript's.",
        table(["table", "config", "evaluation boundaries", "devel mean CCC, audio only", "devel, given at eval",
               "test mean CCC"], rows), "\n".join(findings)])


def shipped_recipe(result: dict) -> str:
    ccc = result["per_utterance_ccc"]
    rows = [["per-utterance CCC", *(mean_sd(ccc[key]["mean"], ccc[key]["sd"]) for key in ccc)]]
    by_category = result["mean_prediction_by_category"]
    categories = [[category, f"{result['targets'][category]['valence']:+.3f}", f"{values['valence']:+.3f}"]
                  for category, values in sorted(by_category.items(), key=lambda item: -item[1]["valence"])]
    return "\n\n".join([
        f"`{result['config']}` trained on EmoDB speakers {result['train_speakers']}, exported, and each utterance "
        f"of speakers {', '.join(map(str, result['test_speakers']))} predicted on its own (seeds "
        f"{', '.join(map(str, result['seeds']))}, mean ± sd).",
        table(["", *ccc], rows),
        table(["category", "target valence", "mean predicted valence"], categories)])


def alignment(result: dict) -> str:
    rows = [["unsupervised (adversarial + Procrustes)", f3(result["unsupervised_p_at_1"]), f3(result["unsupervised_p_at_5"])],
            ["supervised Procrustes", f3(result["supervised_p_at_1"]), f3(result["supervised_p_at_5"])],
            ["identity", f3(result["identity_p_at_1"]), "-"], ["chance", f"{result['chance_p_at_1']:.4f}", "-"]]
    return "\n\n".join([
        f"Two Word2Vec models trained on disjoint halves of the English text with different seeds, aligned "
        f"without a dictionary; precision of translating the {result['test_words']} most frequent held-out "
        f"shared words. The unsupervised alignment took {result['align_seconds_10k_300d']:.0f} s.",
        table(["alignment", "P@1", "P@5"], rows)])


def speed(train: dict, spread: dict, layout: dict, predict: dict) -> str:
    rows = [["training, s of audio per s", f"{train['train_audio_s_per_s']:.0f}",
             f"{train['reference_train_audio_s_per_s']:.0f}", f"{train['train_speedup']:.2f}"],
            ["inference, x real time", f"{train['inference_x_real_time']:.0f}",
             f"{train['reference_inference_x_real_time']:.0f}", f"{train['inference_speedup']:.2f}"]]
    speedups = spread["train_speedup"]
    prediction = [["SavedModel alone", f"{predict['savedmodel_alone_x_real_time']:.0f}"],
                  ["one long file through `predict_files`", f"{predict['one_long_file_x_real_time']:.0f}"],
                  [f"{predict['short_files']} short files through `predict_files`", f"{predict['many_short_files_x_real_time']:.0f}"],
                  ["one long file, fresh `emorec predict` process", f"{predict['one_long_file_fresh_process_x_real_time']:.0f}"]]
    return "\n\n".join([
        f"The paper's model (batch {train['batch']} x {train['sequence_s']:.0f} s, {train['precision']}), the "
        f"default phase-blocked first conv against the plain Conv1D stack (reference), same weights, same "
        f"process. {source(train, 'train_speed.json')}",
        table(["", "emorec", "reference", "ratio"], rows),
        f"Over {spread['runs']} fresh processes the training ratio was {min(speedups):.2f} to {max(speedups):.2f} "
        f"(median {statistics.median(speedups):.2f}): the reference stack used "
        f"{min(spread['reference_cores_used']):.1f} to {max(spread['reference_cores_used']):.1f} cores. "
        + source(spread, "train_speed_spread.json"),
        f"Conv layout: `conv2d` trains at {layout['conv2d_train_over_default']:.2f} and infers at "
        f"{layout['conv2d_inference_over_default']:.2f} times the `conv1d` layout's speed in "
        f"{layout['precision']}. " + source(layout, "conv_layout.json"),
        "Prediction (x real time; " + source(predict, "predict_speed.json") + ")",
        table(["", "x real time"], prediction)])


#: (heading, results files, section writer): the page in order.
SECTIONS: List[tuple] = [
    ("Leave one corpus out", ("cross_corpus.json",), cross_corpus),
    ("EmoDB: models against the eGeMAPS baseline", ("accuracy_emodb.json",), emodb_accuracy),
    ("The paper's Tables 2 and 3 on EmoDB", ("paper_tables_emodb.json",), paper_tables),
    ("The shipped recipe on held-out EmoDB speakers", ("shipped_recipe_heldout.json",), shipped_recipe),
    ("Unsupervised alignment on text", ("alignment_text.json",), alignment),
    ("Speed", ("train_speed.json", "train_speed_spread.json", "conv_layout.json", "predict_speed.json"), speed),
]


def render() -> str:
    parts = [f"# Measured results\n\nGenerated by `{COMMAND}` from `benchmarks/results/*.json`: do not edit "
             "by hand. Targets on EmoDB, RAVDESS, nEMO and ASED are derived from emotion categories through the "
             "NRC VAD lexicon, not annotated."]
    for heading, names, write in SECTIONS:
        results = [load(name) for name in names]
        lines = [f"## {heading}"]
        if len(names) == 1:
            lines.append(source(results[0], names[0]))
        lines.append(write(*results))
        parts.append("\n\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if docs/results.md differs from what it generates")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = DOC.is_file() and DOC.read_text(encoding="utf-8") == text
        print(f"{DOC}: {'up to date' if same else 'stale: run ' + COMMAND}")
        return 0 if same else 1
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
