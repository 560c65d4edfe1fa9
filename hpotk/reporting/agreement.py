"""Replay against real runs, on one figure: each side's mean top-k curve, the real runs' range
and the replay's 95% CI, and the trials finished below (docs/replay_vs_real.png).

A pure function of a `hpotk.replay.Agreement` (``data(a, ...)``, then ``png(a, data)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class AgreementData:
    """Attributes:
        t: the time grid (seconds).
        real, replayed: each side's ``mean``, ``low``, ``high`` and ``finished`` on the grid.
        real_band, replay_band, real_mean, replay_mean: the legend entries.
        box: the corner text (share of time inside the real range, trials finished).
    """

    t: Any
    real: dict[str, Any]
    replayed: dict[str, Any]
    real_label: str
    replay_label: str
    real_band: str
    replay_band: str
    ylabel: str
    title: str
    box: str


def data(a: Any, *, title: str = "", real_label: str = "real",
         replay_label: str = "replayed") -> AgreementData:
    """What the figure shows of ``a`` (a `hpotk.replay.Agreement`)."""
    box = (f"inside the real range at {a.within_envelope:.0%} of the time\n"
           f"trials finished: real {a.trials_real[0]:.1f} ± {a.trials_real[1]:.1f}, "
           f"replayed {a.trials_replayed[0]:.1f} ± {a.trials_replayed[1]:.1f}")
    return AgreementData(a.grid, a.real, a.replayed, real_label, replay_label,
                         f"{real_label}: range of {a.real_runs} runs",
                         f"{replay_label}: 95% CI of {a.replayed_runs} seeds",
                         f"{a.report_metric}: mean of top {a.top_k}", title, box)


def png(a: Any, d: AgreementData | None = None, *, note: str = "") -> Any:
    """The figure (matplotlib); ``note`` in the bottom corner."""
    from matplotlib.figure import Figure

    d = d or data(a)
    t = d.t
    fig = Figure(figsize=(8.5, 6.2))
    ax, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.fill_between(t, d.real["low"], d.real["high"], color="tab:blue", alpha=0.18, lw=0,
                    label=d.real_band)
    ax.plot(t, d.real["mean"], color="tab:blue", lw=2, label=f"{d.real_label}: mean")
    ax.fill_between(t, d.replayed["low"], d.replayed["high"], color="tab:orange", alpha=0.25,
                    lw=0, label=d.replay_band)
    ax.plot(t, d.replayed["mean"], color="tab:orange", lw=2, ls="--",
            label=f"{d.replay_label}: mean")
    ax.set_ylabel(d.ylabel)
    ax.set_title(d.title, fontsize=10.5)
    ax.legend(loc="lower right", fontsize=8.5, framealpha=0.9)
    ax.grid(alpha=0.3)
    ax.text(0.01, 0.97, d.box, transform=ax.transAxes, ha="left", va="top", fontsize=8.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    bottom.plot(t, d.real["finished"], color="tab:blue", lw=1.5, label=d.real_label)
    bottom.plot(t, d.replayed["finished"], color="tab:orange", lw=1.5, ls="--",
                label=d.replay_label)
    bottom.set_ylabel("trials\nfinished")
    bottom.set_xlabel("time (s)")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper left", fontsize=8)
    bottom.set_xlim(0, t[-1])
    import textwrap

    lines = textwrap.wrap(note, 140) if note else []  # a long note wraps, never runs off
    if lines:
        fig.text(0.01, 0.005, "\n".join(lines), fontsize=8, color="0.35", ha="left",
                 va="bottom")
    fig.tight_layout(rect=(0, 0.03 * len(lines), 1, 1))
    return fig


def write_png(a: Any, path: str | Path, *, title: str, note: str = "",
              real_label: str = "real", replay_label: str = "replayed") -> Path:
    """Draw the figure of ``a`` into ``path`` (PNG)."""
    d = data(a, title=title, real_label=real_label, replay_label=replay_label)
    png(a, d, note=note).savefig(path, dpi=130)
    return Path(path)
