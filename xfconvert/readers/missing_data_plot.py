"""A plot of the sources that miss data in some trains (``run.plot_missing_data()``).

Needs matplotlib (``pip install 'xfconvert[plot]'``), imported only when plotting.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from xfconvert.testing import make_run
>>> from xfconvert import RunDirectory
>>> import tempfile, pathlib
>>> run = RunDirectory(make_run(pathlib.Path(tempfile.mkdtemp()) / "r1", n_trains=3))
>>> gaps = missing_data_fractions(run, min_saved_pct=100)
>>> sorted(round(pct) for pct, _ in gaps.values())[:1]
[100]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..exceptions import MissingDependencyError

if TYPE_CHECKING:
    from .collection import DataCollection

__all__ = ["missing_data_fractions", "plot_missing_data"]

PRESENT_COLOR = "deeppink"
MISSING_COLOR = "k"


def _display_name(data: "DataCollection", source: str) -> str:
    for alias, target in data._aliases.items():
        if target == source:
            return alias
    return source


def missing_data_fractions(data: "DataCollection", min_saved_pct: float = 95,
                           expand_instrument: bool = False
                           ) -> dict[str, tuple[float, np.ndarray]]:
    """Sources (or source index groups) saved in at most ``min_saved_pct`` % of trains.

    Returns
    -------
    dict
        name -> (percentage of trains with data, boolean mask over the trains), most
        missing first. Names are source aliases where defined; with
        ``expand_instrument`` instrument sources are split by index group
        (``'source group.*'``).
    """
    n = len(data.train_id_array)
    masks: dict[str, np.ndarray] = {}
    for src in sorted(data.all_sources):
        sd = data[src]
        name = _display_name(data, src)
        if expand_instrument and not sd.is_control:
            for group in sorted(sd.index_groups):
                masks[f"{name} {group}.*"] = sd.data_counts(labelled=False,
                                                            index_group=group) > 0
        else:
            masks[name] = sd.data_counts(labelled=False) > 0
    found = {}
    for name, mask in masks.items():
        pct = 100 * int(mask.sum()) / n if n else 0.0
        if pct <= min_saved_pct:
            found[name] = (pct, mask)
    return dict(sorted(found.items(), key=lambda kv: (int(kv[1][1].sum()), kv[0]),
                       reverse=True))


def _blocks(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """(start, length, present) of each run of equal values."""
    if not len(mask):
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    starts = np.concatenate(([0], edges))
    stops = np.concatenate((edges, [len(mask)]))
    return [(int(a), int(b - a), bool(mask[a])) for a, b in zip(starts, stops)]


def plot_missing_data(data: "DataCollection", min_saved_pct: float = 95,
                      expand_instrument: bool = False):
    """Draw one bar per source with gaps: present trains pink, missing ones black.

    Parameters
    ----------
    min_saved_pct : float
        Show sources with data in at most this percentage of trains.
    expand_instrument : bool
        One bar per index group of instrument sources.

    Returns
    -------
    matplotlib.axes.Axes
        Y tick labels read ``'name (pct%)'``; the x axis is the train index.

    Raises
    ------
    MissingDependencyError
        If matplotlib is not installed (also an ImportError).
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError as err:
        raise MissingDependencyError("matplotlib", "plot_missing_data()", "plot") from err
    gaps = missing_data_fractions(data, min_saved_pct, expand_instrument)
    fig, ax = plt.subplots(figsize=(9, max(3, len(gaps) / 3.5)))
    bar_height = 0.5
    for i, (_, mask) in enumerate(gaps.values()):
        blocks = _blocks(mask)
        ax.broken_barh([(a, n) for a, n, _ in blocks], (i, bar_height),
                       color=[PRESENT_COLOR if p else MISSING_COLOR for _, _, p in blocks])
    ax.set_yticks(np.arange(len(gaps)) + bar_height / 2,
                  labels=[f"{name} ({pct:.2f}%)" for name, (pct, _) in gaps.items()],
                  fontsize=8)
    ax.set_xlabel("Train ID index")
    title = f"Sources with less than {min_saved_pct}% of trains saved"
    try:
        meta = data.run_metadata()
    except ValueError:
        meta = {}
    if "proposalNumber" in meta and "runNumber" in meta:
        title += f" in p{meta['proposalNumber']}, run {meta['runNumber']}"
    ax.set_title(title, pad=25 + len(gaps) * 0.25)
    ax.legend(handles=[Line2D([0], [0], marker="o", color="w", label=label,
                              markerfacecolor=color, markersize=6)
                       for color, label in [(MISSING_COLOR, "Missing"),
                                            (PRESENT_COLOR, "Present")]],
              loc="lower center", bbox_to_anchor=(0, 1.02, 1, 0.1), ncol=2,
              borderaxespad=0)
    fig.tight_layout()
    return ax
