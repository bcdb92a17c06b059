"""`report.html`: one self-contained page per evaluation, to look at rather than parse.

Sections: what was evaluated, the CCC table (raw and post-processed, side by side), the
post-processing parameters, the run's training curves (`history.csv`) and prediction vs gold
over time for a few recordings. Everything is inline (CSS in a `<style>`, figures as base64
PNGs, no script), so the file opens offline, from an archive or as a CI artefact, unchanged.
"""
from __future__ import annotations

import base64
import datetime
import html
import io
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from emorec.evaluation.report import recording_figure

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 62em; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #999; }
td.mean, th.mean { font-weight: 600; }
table.meta td, table.meta th { text-align: left; border: none; padding: 0.1em 0.8em 0.1em 0; }
table.meta th { color: #666; font-weight: normal; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
.note { color: #666; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def write_html_report(
    path: Path,
    *,
    summary: dict,
    recordings: Sequence[dict],
    history: Dict[str, List[float]],
    postprocessing: Optional[dict] = None,
    emorec_version: str = "",
) -> Path:
    """Write `report.html` at `path` and return it.

    summary: the content of `scores.json` (`ccc_raw`, `ccc_postprocessed`, `label_names`, ...).
    recordings: the ones to draw, each `name`, `gold`/`predictions` `[frames, dims]`, `mask`
    `[frames]` and optionally `postprocessed` `[frames, dims]`. history: `read_history` of the run
    (`{}` draws a note instead of curves). postprocessing: `Postprocessor.to_dict()` or None.
    """
    label_names = list(summary["label_names"])
    title = f"emorec evaluation: {summary['partition']} of {Path(summary.get('data_dir', '')).name or '?'}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_text(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_text(title)}</h1>",
        _meta_table(summary, emorec_version),
        "<h2>Concordance correlation coefficient</h2>",
        _ccc_table(summary, label_names),
        _postprocessing_section(postprocessing, label_names),
        "<h2>Training</h2>",
        _training_section(history),
        "<h2>Predictions over time</h2>",
        _recordings_section(recordings, label_names, summary["recordings"]),
        "</body></html>",
    ]
    path = Path(path)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Optional[float], digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def _meta_table(summary: dict, emorec_version: str) -> str:
    written = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    rows = [
        ("run", summary.get("run_dir")),
        ("model", summary.get("model")),
        ("data", summary.get("data_dir")),
        ("partition", summary["partition"]),
        ("recordings", summary["recordings"]),
        ("labelled frames", summary["frames"]),
        ("CCC", f"pooled over all recordings, {summary['variance']} variance"),
        ("outputs scored", _outputs_text(summary.get("outputs"))),
        ("semantic features", summary.get("semantic_features")),
        ("written", f"{written} by emorec {emorec_version}".rstrip()),
    ]
    cells = "".join(f"<tr><th>{_text(k)}</th><td>{_text(v)}</td></tr>" for k, v in rows if v is not None)
    return f'<table class="meta">{cells}</table>'


def _outputs_text(outputs: Optional[dict]) -> Optional[str]:
    """The output protocol in words (None for plain frame outputs: nothing to say)."""
    if not outputs or (outputs.get("pool") == "frame" and outputs.get("output_statistics") == "none"):
        return None
    parts = []
    if outputs.get("pool") == "recording":
        parts.append("each recording's mean prediction on all of its frames")
    if outputs.get("output_statistics") == "speaker":
        parts.append(f"standardised per speaker and mapped onto the training targets' mean and sd "
                     f"({outputs.get('target_statistics_from', 'training partition')})")
    return "; ".join(parts)


def _ccc_table(summary: dict, label_names: Sequence[str]) -> str:
    columns = [*label_names, "mean"]
    head = "".join(f'<th{" class=mean" if c == "mean" else ""}>{_text(c)}</th>' for c in columns)
    outputs = summary.get("outputs") or {}
    protocol = [*(["recording means"] if outputs.get("pool") == "recording" else []),
                *(["standardised per speaker"] if outputs.get("output_statistics") == "speaker" else [])]
    # Never "raw" for outputs that were pooled or rescaled.
    rows = [(f"predictions, {', '.join(protocol)}" if protocol else "raw predictions", summary["ccc_raw"])]
    if summary.get("ccc_postprocessed") is not None:
        rows.append(("post-processed (fitted on development)", summary["ccc_postprocessed"]))
    body = "".join(
        f"<tr><td>{_text(name)}</td>"
        + "".join(f'<td{" class=mean" if c == "mean" else ""}>{_number(scores.get(c))}</td>' for c in columns)
        + "</tr>"
        for name, scores in rows)
    note = "" if len(rows) > 1 else '<p class="note">Post-processing was off for this evaluation.</p>'
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _postprocessing_section(postprocessing: Optional[dict], label_names: Sequence[str]) -> str:
    if not postprocessing:
        return ""
    # Spelled out because these steps shift and rescale the predictions: a reader of the
    # post-processed CCC should see by how much.
    head = ("<tr><th>dimension</th><th>delay (frames)</th><th>median window (frames)</th><th>offset</th>"
            "<th>scale</th><th>devel CCC raw</th><th>devel CCC after</th></tr>")
    rows = []
    for name in label_names:
        params = postprocessing["dimensions"].get(name)
        if params is None:
            continue
        rows.append(f"<tr><td>{_text(name)}</td><td>{params['delay_frames']}</td><td>{params['median_window']}</td>"
                    f"<td>{_number(params['offset'])}</td><td>{_number(params['scale'])}</td>"
                    f"<td>{_number(params['devel_ccc_raw'])}</td><td>{_number(params['devel_ccc'])}</td></tr>")
    return ("<h2>Post-processing</h2><p>Fitted on the development partition, applied unchanged; each step "
            "kept only where it raised development CCC (delay: the prediction of frame t is used at t + delay).</p>"
            f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>")


def _training_section(history: Dict[str, List[float]]) -> str:
    epochs = history.get("epoch")
    if not epochs:
        return '<p class="note">No <code>history.csv</code> in the run folder: no training curves.</p>'
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # history.csv counts epochs from 0 (Keras' CSVLogger); people count from 1.
    x = np.asarray(epochs, dtype=float) + 1
    figure, (loss_axis, ccc_axis) = plt.subplots(1, 2, figsize=(10, 3.2))
    for key, label in (("loss", "train"), ("val_loss", "development")):
        if key in history:
            loss_axis.plot(x, history[key], marker="o", markersize=3, label=label)
    loss_axis.set(title="loss (1 - CCC, mean over dimensions)", xlabel="epoch")
    for key, label in (("mean_ccc", "train"), ("val_mean_ccc", "development")):
        values = np.asarray(history.get(key, []), dtype=float)
        if values.size and np.isfinite(values).any():
            ccc_axis.plot(x, values, marker="o", markersize=3, label=label)
    ccc_axis.set(title="mean CCC", xlabel="epoch")
    for axis in (loss_axis, ccc_axis):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    figure.tight_layout()
    return _image(figure, "training loss and mean CCC per epoch")


def _recordings_section(recordings: Sequence[dict], label_names: Sequence[str], total: int) -> str:
    if not recordings:
        return '<p class="note">No recordings drawn (evaluation.plot_recordings is 0).</p>'
    parts = [f'<p class="note">{len(recordings)} of {total} recordings, by name; gold is blank where '
             "its label is masked.</p>"]
    for result in recordings:
        figure = recording_figure(result["name"], result["gold"], result["predictions"], result["mask"], label_names,
                                  result.get("postprocessed"))
        parts.append(f"<h3>{_text(result['name'])}</h3>" + _image(figure, f"{result['name']}: prediction vs gold"))
    return "\n".join(parts)


def _image(figure, alt: str) -> str:
    """The figure as an inline base64 PNG (then closed): no file next to the report to lose."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{_text(alt)}" src="data:image/png;base64,{encoded}">'
