"""``handoff eval --plot FILE``: the evaluation as a picture (PNG or SVG, by extension).

Two panels, drawn with matplotlib (the optional ``plots`` extra):

- **Reliability diagram**: per confidence bin (15 equal-width bins, the ones ECE sums
  over: :func:`~handoff_server.analytics.metrics.reliability_bins`), the observed share
  of right answers against the mean confidence, with the diagonal of perfect
  calibration and each bin's question count.
- **Risk–coverage curve**: share of questions answered against share answered wrongly
  at the stated out-of-scope share, with its upper confidence bound, the chosen
  threshold marked and the target risk as a line — the points ``--json`` prints as
  ``risk_coverage`` (:func:`~handoff_server.analytics.risk.risk_coverage`), not a second
  computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handoff_server.errors import HandoffError
from handoff_server.extras import install_hint

if TYPE_CHECKING:
    from handoff_server.analytics import ReliabilityBin, RiskPoint

__all__ = ["PLOT_FORMATS", "EvalPicture", "check_plot_path", "write_plot"]

PLOT_FORMATS = (".png", ".svg")
"""File extensions ``--plot`` writes."""


@dataclass(frozen=True)
class EvalPicture:
    """What the picture shows: ``bins`` (reliability), ``points`` (risk–coverage,
    ascending threshold), the ``threshold`` in use (0–1), the ``target_risk`` (0–1, or
    ``None`` without ``--sweep``), the ``oos_share`` the risk is stated at, and a
    ``title`` (engine, questions)."""

    bins: list[ReliabilityBin]
    points: list[RiskPoint]
    threshold: float
    target_risk: float | None
    oos_share: float | None
    title: str


def check_plot_path(path: Path) -> None:
    """Refuse a ``--plot`` path before any work: an extension other than .png/.svg, or no
    matplotlib. Raises :class:`~handoff_server.errors.HandoffError` with code
    ``invalid_option`` or ``missing_extra``."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise HandoffError(f"--plot: {path.name!r} must end in .png or .svg", code="invalid_option")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise HandoffError(
            "--plot needs matplotlib, in the 'plots' extra: " + install_hint("plots"),
            code="missing_extra",
        ) from None


def write_plot(path: Path, picture: EvalPicture) -> None:
    """Draw ``picture`` into ``path`` (format from the extension), atomically: a
    temporary file beside it, then a rename. Raises
    :class:`~handoff_server.errors.HandoffError` as
    :func:`check_plot_path` does, ``OSError`` when the file cannot be written."""
    check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _reliability(left, picture.bins)
    _risk_coverage(right, picture)
    fig.suptitle(picture.title, fontsize=11)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=110, format=path.suffix.lower()[1:], metadata=_metadata(path))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _metadata(path: Path) -> dict[str, Any]:
    # SVGs otherwise carry a creation date: the same evaluation must give the same file.
    return {"Date": None} if path.suffix.lower() == ".svg" else {}


def _reliability(ax: Any, bins: list[ReliabilityBin]) -> None:
    ax.plot([0, 1], [0, 1], linestyle=":", color="gray", label="perfectly calibrated")
    width = bins[0].high - bins[0].low if bins else 1.0
    filled = [b for b in bins if b.count]
    ax.bar(
        [b.low for b in filled],
        [b.accuracy for b in filled],
        width=width,
        align="edge",
        color="#4c72b0",
        edgecolor="white",
        alpha=0.8,
        label="observed share right",
    )
    ax.plot(
        [b.mean_confidence for b in filled],
        [b.accuracy for b in filled],
        marker="o",
        color="#dd8452",
        label="at the bin's mean confidence",
    )
    for b in filled:
        ax.annotate(
            f"{b.count}",
            (b.low + width / 2, b.accuracy),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=7,
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.08),
        xlabel="confidence",
        ylabel="observed accuracy",
        title="Reliability (numbers: questions per bin)",
    )
    ax.legend(loc="upper left", fontsize=8)


def _risk_coverage(ax: Any, pic: EvalPicture) -> None:
    pts = sorted(pic.points, key=lambda p: p.threshold)
    xs = [p.coverage * 100 for p in pts]
    ax.plot(xs, [p.risk * 100 for p in pts], color="#4c72b0", label="wrong answers (estimate)")
    ax.plot(
        xs,
        [p.upper_bound * 100 for p in pts],
        color="gray",
        linestyle="--",
        label="upper confidence bound",
    )
    if pic.target_risk is not None:
        ax.axhline(
            pic.target_risk * 100,
            color="#c44e52",
            linestyle=":",
            label=f"target risk {pic.target_risk:.1%}",
        )
    here = min(pts, key=lambda p: abs(p.threshold - pic.threshold)) if pts else None
    if here is not None:
        ax.scatter([here.coverage * 100], [here.risk * 100], color="#dd8452", zorder=3)
        ax.annotate(
            f"threshold {pic.threshold:.2f}\n{here.coverage:.1%} answered, {here.risk:.2%} wrong",
            (here.coverage * 100, here.risk * 100),
            textcoords="offset points",
            xytext=(12, 40) if here.coverage < 0.5 else (-12, 40),
            ha="left" if here.coverage < 0.5 else "right",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": "#dd8452"},
            arrowprops={"arrowstyle": "-", "color": "#dd8452"},
        )
    share = "" if pic.oos_share is None else f" at {pic.oos_share:.0%} out of scope"
    top = max([p.upper_bound * 100 for p in pts if p.coverage > 0] or [1.0])
    ax.set(
        xlim=(0, 100),
        ylim=(0, min(100.0, max(top, (pic.target_risk or 0) * 100) * 1.1)),
        xlabel="answered by the AI (% of questions)",
        ylabel="answered wrongly (% of questions)",
        title=f"Risk–coverage{share}",
    )
    ax.legend(loc="upper left", fontsize=8)
