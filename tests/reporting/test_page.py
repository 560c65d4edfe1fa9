"""`hpotk report`'s page and PNGs, from hand-made results directories and Results; a study's
page; the CLI."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from hpotk.reporting import page, write_report
from tests.reporting.make import make, write_dir

FIGURES = ["history", "curves", "parallel", "importance", "scatter", "scatter3d", "timeline"]


def _check_pngs(files) -> None:
    assert [p.stem for p in files.pngs] == FIGURES
    for png in files.pngs:
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] >= 600 and im.size[1] >= 150
            # not blank: a figure has many colours
            assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20


def test_page_is_offline_and_has_every_figure(tmp_path):
    from plotly.offline import get_plotlyjs

    res = make(25, errors=2, nan=1, path=tmp_path)
    files = page.write(res, tmp_path / "report")
    _check_pngs(files)
    text = files.index.read_text()
    bundle = get_plotlyjs()
    assert text.count(bundle) == 1  # plotly.js inlined once
    ours = text.replace(bundle, "")  # (the bundle names CDNs for map figures, unused here)
    assert not re.search(r"<script[^>]+src=", ours), "no external script (offline)"
    assert "cdn.plot.ly" not in ours and "https://" not in ours
    for key in FIGURES:
        assert f'id="fig-{key}"' in text and f'href="{key}.png"' in text
    assert "Top trials" in text and "hand-made plan text" in text
    assert "fANOVA" in text  # the page names the importance method
    assert "CUDA out of memory" in text  # the errors table
    assert "Still running" not in text


def test_page_of_a_running_experiment(tmp_path):
    res = make(8, running=3, path=tmp_path)
    text = page.write(res, tmp_path / "report").index.read_text()
    assert 'id="still-running"' in text and "hpotk&#x27;s live logs" in text
    assert "written when the experiment ends" in text  # the retrain command is not there yet


def test_page_with_one_trial_and_with_no_scored_trial(tmp_path):
    files = page.write(make(1, path=tmp_path), tmp_path / "one")
    _check_pngs(files)
    text = files.index.read_text()
    assert "needs at least 2 trials" in text
    files = page.write(make(2, errors=2, path=tmp_path), tmp_path / "none")
    assert "no trial has reported val_loss yet" in files.index.read_text()


def test_top_table_and_retrain_from_a_results_dir(tmp_path):
    run = write_dir(make(14, errors=1, nan=1), tmp_path / "made")
    files = write_report(run)
    assert files.index == run / "report" / "index.html"
    text = files.index.read_text()
    assert f"hpotk run {run / 'retrain.yaml'}" in text
    rows = re.findall(r"<tr><td>(\d+)</td><td>(abcde_\d+)</td>", text)
    assert [r[0] for r in rows] == [str(i) for i in range(1, 11)]  # the top 10
    from hpotk import results

    best = results.load(run).best()
    assert rows[0][1] == best["trial_id"]
    assert "the best 10 of 14 trials" in text


def test_out_option_and_a_missing_directory(tmp_path):
    from hpotk.errors import HpotkError

    run = write_dir(make(3), tmp_path / "made")
    files = write_report(run, tmp_path / "elsewhere")
    assert files.index == tmp_path / "elsewhere" / "index.html" and files.index.exists()
    with pytest.raises(HpotkError, match="not a results directory"):
        write_report(tmp_path / "missing")


def _study_dir(tmp_path):
    from matplotlib.figure import Figure

    study = tmp_path / "tts"
    study.mkdir()
    runs = []
    for label, seed in (("asha/random", 0), ("fifo/random", 0)):
        path = write_dir(make(5, seed=seed + len(runs)), study / label.replace("/", "-") /
                         f"seed{seed}")
        runs.append({"label": label, "seed": seed, "path": str(path), "status": "complete"})
    runs.append({"label": "hyperband/random", "seed": 0,
                 "path": str(study / "hyperband-random" / "seed0"), "status": "not started"})
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [3, 1, 0.5], label="asha/random")
    ax.legend()
    fig.savefig(study / "tts.png")
    (study / "summary.md").write_text("| strategy | time to target |\n|---|---|\n"
                                      "| asha/random | 12 s |\n| fifo/random | 30 s |\n")
    (study / "study.json").write_text(json.dumps({
        "name": "tts", "runs": runs,
        "outputs": [str(study / "tts.png"), "summary.md", "curves.csv"]}))
    return study


def test_study_page_links_each_run_report(tmp_path):
    study = _study_dir(tmp_path)
    files = write_report(study)
    text = files.index.read_text()
    assert files.index == study / "report" / "index.html"
    assert '<img src="tts.png"' in text and (study / "report" / "tts.png").exists()
    assert "<table>" in text and "<td>12 s</td>" in text  # summary.md rendered
    links = re.findall(r'class="run-report" href="([^"]+)"', text)
    assert links == ["../asha-random/seed0/report/index.html",
                     "../fifo-random/seed0/report/index.html"]
    for link in links:
        assert (files.index.parent / link).resolve().exists()
    assert "not started" in text
    assert "curves.csv" not in text or "not written yet" in text


def test_cli_report(tmp_path, capsys, monkeypatch):
    import webbrowser

    from hpotk.cli import main

    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    run = write_dir(make(4), tmp_path / "made")
    assert main(["report", str(run), "--out", str(tmp_path / "r"), "--open"]) == 0
    out = capsys.readouterr().out
    assert f"[hpotk] report: {tmp_path / 'r' / 'index.html'}" in out
    assert "history.png" in out and (tmp_path / "r" / "timeline.png").exists()
    assert opened == [(tmp_path / "r" / "index.html").resolve().as_uri()]
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a results directory" in capsys.readouterr().err


def test_missing_plot_extra_is_one_clear_error(tmp_path, monkeypatch):
    import importlib.util

    from hpotk.errors import HpotkError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "plotly" else real(name, *a))
    with pytest.raises(HpotkError, match=r"needs plotly \(the HTML page\).*hpotk\[plot\]"):
        write_report(write_dir(make(2), tmp_path / "made"))
