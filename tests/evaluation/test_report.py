"""`report.html`: self-contained, the numbers of the written predictions, and it renders in a
real browser (headless Chromium) without errors."""
import html
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from emorec.cli import cli
from emorec.evaluation.ccc import ccc

from .test_evaluate import read_avec, read_gold

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not on PATH (Debian: apt-get install chromium; .ci/run installs it)")

# Injected first into <head> of a copy of the page: records script errors, failed resource loads
# (capture phase sees <img>/<link> errors, which do not bubble) and console.error calls, then on
# load counts images that did not decode, and writes all of it into the DOM for --dump-dom.
PROBE = """<script>
window.__probe = [];
window.addEventListener('error', function (e) {
  window.__probe.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || 'resource'));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__probe.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    original.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({errors: window.__probe, images: images.length,
    broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length});
  document.body.appendChild(out);
});
</script>"""


def render_in_chromium(page_html, tmp_path):
    """Open `page_html` (with PROBE injected) in headless Chromium; returns (probe dict, stderr)."""
    page = tmp_path / "probed.html"
    page.write_text(page_html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        completed = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', completed.stdout, re.S)
    assert found, f"the probe did not run; DOM starts {completed.stdout[:300]!r}"
    return json.loads(html.unescape(found.group(1))), completed.stderr


class Tables(HTMLParser):
    """Rows of every <table> as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.fixture(scope="module")
def evaluation(trained, tmp_path_factory):
    data, run = trained
    out = tmp_path_factory.mktemp("report") / "eval"
    result = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(run), "--data", str(data), "--partition", "test",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    return data, run, out


def test_report_is_self_contained(evaluation):
    _, _, out = evaluation
    text = (out / "report.html").read_text(encoding="utf-8")
    # Nothing fetched from anywhere: no URLs, no external stylesheet or script, images inline.
    assert not re.search(r"https?://|<link|<script|@import|url\(", text, re.I)
    sources = re.findall(r'src="([^"]*)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


def test_report_shows_the_scores_of_the_written_predictions_and_the_training_history(evaluation):
    data, run, out = evaluation
    text = (out / "report.html").read_text(encoding="utf-8")
    parser = Tables()
    parser.feed(text)
    ccc_table = next(t for t in parser.tables if t[0][1:] == ["arousal", "valence", "mean"])
    rows = {row[0]: row[1:] for row in ccc_table[1:]}
    assert list(rows) == ["raw predictions", "post-processed (fitted on development)"]

    # Expected cells from the prediction files and the TFRecords' gold, not from scores.json.
    gold = read_gold(data)
    names = sorted(gold)
    labels = np.concatenate([gold[n] for n in names])
    for row, folder in (("raw predictions", "predictions_raw"),
                        ("post-processed (fitted on development)", "predictions_postprocessed")):
        pred = np.concatenate([read_avec(out / folder / f"{n}.csv", n) for n in names])
        per_dim = [ccc(labels[:, d], pred[:, d]) for d in range(2)]
        assert rows[row] == [f"{v:.3f}" for v in [*per_dim, np.mean(per_dim)]]

    # One training figure (history.csv has rows) plus evaluation.plot_recordings (1) recordings.
    assert len(pd.read_csv(run / "history.csv")) == 2
    assert len(re.findall(r"<img ", text)) == 1 + 1
    assert f"<h3>{names[0]}</h3>" in text


@pytest.mark.e2e
@needs_chromium
def test_report_renders_in_chromium_without_errors(evaluation, tmp_path):
    _, _, out = evaluation
    probe, stderr = render_in_chromium((out / "report.html").read_text(encoding="utf-8"), tmp_path)
    assert probe["errors"] == [], probe
    assert probe["images"] == 2 and probe["broken"] == 0, probe
    # Chromium logs console messages to stderr as "CONSOLE(...)" with --enable-logging=stderr.
    assert "CONSOLE" not in stderr, [line for line in stderr.splitlines() if "CONSOLE" in line]


@pytest.mark.e2e
@needs_chromium
def test_the_chromium_probe_sees_errors_and_broken_images(tmp_path):
    """The check above can fail: a page with a script error and an undecodable image is caught."""
    page = ("<!DOCTYPE html><html><head><title>bad</title></head><body>"
            '<img src="data:image/png;base64,AAAA"><script>no_such_function();</script></body></html>')
    probe, _ = render_in_chromium(page, tmp_path)
    assert any("no_such_function" in error for error in probe["errors"]), probe
    assert probe["images"] == 1 and probe["broken"] == 1, probe
