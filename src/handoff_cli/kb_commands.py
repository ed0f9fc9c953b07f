"""``handoff kb build``, ``handoff kb check`` and ``handoff eval``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from handoff_cli.common import ConfigOpt, DataDirOpt, fail, print_json, settings_from
from handoff_cli.eval_save import save_eval
from handoff_cli.output import echo, one_line
from handoff_cli.plots import EvalPicture, check_plot_path, write_plot
from handoff_cli.progress import cli_progress, progress_wanted
from handoff_server import analytics
from handoff_server.ai import ENGINES
from handoff_server.ai.courtesy_layer import CourtesyAnswerer
from handoff_server.ai.factory import load_or_build_index
from handoff_server.analytics import RISK_CONFIDENCE
from handoff_server.config import index_cache_dir
from handoff_server.errors import HandoffError
from handoff_server.kb import check_kb, load_kb, write_kb_folder
from handoff_server.progress import NO_PROGRESS, ProgressSink

if TYPE_CHECKING:
    from handoff_server.analytics import Predictions, RiskPoint

# `analytics.<name>` loads NumPy and SciPy on first use (handoff_server.analytics is lazy),
# so registering these commands costs no more than their options.

kb_app = typer.Typer(
    help="Build and check knowledge bases.", no_args_is_help=True, rich_markup_mode=None
)

QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress on stderr (it is shown only on a terminal anyway)."
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option("--engine", metavar="NAME", help=f"Answerer engine: {', '.join(ENGINES)}."),
]


def _cache_dir(config: Path | None, data_dir: Path | None) -> Path:
    return index_cache_dir(settings_from(config, {"store": {"data_dir": data_dir}}))


def _index(
    kb_path: Path | None, engine: str, cache_dir: Path, progress: ProgressSink = NO_PROGRESS
) -> tuple[Any, float, bool]:
    """Load the KB and its index (building it if needed) or exit with a clear message."""
    if engine not in ENGINES:
        fail(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}", "bad_engine")
    try:
        progress.start("loading the KB", None)
        kb = load_kb(kb_path)
        t0 = time.perf_counter()
        index, _cached = load_or_build_index(kb, engine, cache_dir, progress)
        from handoff_server.ai.retrieval import RetrievalAnswerer

        return RetrievalAnswerer(kb, index), time.perf_counter() - t0, _cached
    except HandoffError as exc:
        fail(exc.detail, exc.code)
    except ImportError as exc:
        fail(str(exc), "missing_extra")


@kb_app.command("build")
def kb_build(
    from_csv: Annotated[
        Path,
        typer.Option(
            "--from-csv",
            metavar="FILE",
            help="Labeled CSV (text,label; 'oos' rows = out of scope).",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="KB folder to write (must not exist).")
    ],
    engine: EngineOpt = "default",
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write a KB folder from a labeled CSV and build its index.

    The folder holds one Markdown entry per label and oos.csv for the out-of-scope
    examples; the engine's index for it is built and cached.

    The folder is written to a temporary sibling and renamed, so a failure leaves nothing.
    On a terminal, each step shows its progress on stderr (--quiet: none).
    """
    if engine not in ENGINES:
        fail(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}", "bad_engine")
    if out.exists() and not force:
        fail(f"{out} already exists (use --force to replace it)", "exists")
    cache_dir = _cache_dir(config, data_dir)
    with cli_progress(progress_wanted(quiet=quiet)) as progress:
        try:
            progress.start("reading the CSV", None)
            kb = load_kb(from_csv)
            progress.start("writing the KB folder", None)
            write_kb_folder(kb, out, overwrite=force)
        except HandoffError as exc:
            fail(exc.detail, exc.code)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror}", "io_error")
        answerer, seconds, cached = _index(out, engine, cache_dir, progress)
    n = sum(1 for e in answerer.kb.entries if not e.out_of_scope)
    how = "loaded from cache" if cached else f"built in {seconds:.1f} s"
    echo(f"wrote {out}: {n} entries; {engine} index {how}")


@kb_app.command("check")
def kb_check(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="KB folder or file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
) -> None:
    """Report every problem in a KB with its file and line.

    Exits 1 when there are errors (warnings alone exit 0).
    """
    problems = check_kb(path)
    errors = [p for p in problems if p.severity == "error"]
    if json_out:
        print_json(
            {
                "ok": not errors,
                "errors": len(errors),
                "warnings": len(problems) - len(errors),
                "problems": [
                    {"file": p.file, "line": p.line, "severity": p.severity, "message": p.message}
                    for p in problems
                ],
            }
        )
    else:
        for p in problems:
            echo(one_line(p), err=p.severity == "error")
        echo(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    if errors:
        raise typer.Exit(1)


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


QuestionsOpt = Annotated[
    Path,
    typer.Option(
        "--questions", metavar="FILE", help="Questions CSV: text,label ('oos' = out of scope)."
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        metavar="FRACTION",
        min=0.0,
        max=1.0,
        help="Confidence threshold 0–1 (default 0.70; with --sweep the recommended one).",
    ),
]
TargetRiskOpt = Annotated[
    float,
    typer.Option(
        "--target-risk",
        metavar="FRACTION",
        min=0.0,
        max=1.0,
        help="With --sweep: share of questions answered wrongly to promise to stay under.",
    ),
]
KbPathOpt = Annotated[
    Path | None,
    typer.Option(
        "--kb", metavar="PATH", help="KB folder or file (CSV accepted); default: the demo KB."
    ),
]
SweepOpt = Annotated[
    bool,
    typer.Option(
        "--sweep", help="Also sweep thresholds 0.00–1.00 and recommend a risk-controlled one."
    ),
]
OosShareOpt = Annotated[
    float,
    typer.Option(
        "--oos-share",
        metavar="FRACTION",
        min=0.0,
        max=1.0,
        help="With --sweep: share of traffic that is out of scope (the questions are "
        "reweighted to it).",
    ),
]
RiskConfidenceOpt = Annotated[
    float,
    typer.Option(
        "--risk-confidence",
        metavar="FRACTION",
        min=0.5,
        max=0.999,
        help="With --sweep: probability that the promise holds.",
    ),
]


SaveOpt = Annotated[
    bool,
    typer.Option("--save", help="Keep the results in the store for the risk-coverage screen."),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="FILE",
        help="Also draw the reliability diagram and the risk-coverage curve to FILE "
        "(.png or .svg; needs the 'plots' extra).",
        dir_okay=False,
    ),
]


def evaluate(
    questions: QuestionsOpt,
    kb: KbPathOpt = None,
    threshold: ThresholdOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    do_sweep: SweepOpt = False,
    target_risk: TargetRiskOpt = 0.02,
    oos_share: OosShareOpt = 0.2,
    risk_confidence: RiskConfidenceOpt = RISK_CONFIDENCE,
    engine: EngineOpt = "default",
    save: SaveOpt = False,
    plot: PlotOpt = None,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Measure the answerer on labeled questions.

    Reports accuracy, containment, out-of-scope recall, wrong-answer rate, coverage,
    AURC and ECE (15 bins) at a threshold.

    An answer is right when its entry is the question's label; out-of-scope questions are
    right only when escalated (confidence < threshold).

    With --sweep it recommends the lowest threshold at which, with probability
    --risk-confidence, at most --target-risk of all questions get a wrong answer when
    --oos-share of them are out of scope (exact Clopper–Pearson bounds, docs/ai.md), or
    says that no threshold can promise it on these questions.

    --plot FILE draws the reliability diagram and the risk-coverage curve. On a
    terminal, progress is shown on stderr (--json or --quiet: none).
    """
    if plot is not None:
        try:
            check_plot_path(plot)
        except HandoffError as exc:
            fail(exc.detail, exc.code)
    show = progress_wanted(json_out=json_out, quiet=quiet)
    preds = _predictions(questions, kb, engine, _cache_dir(config, data_dir), show)
    if save:
        save_eval(settings_from(config, {"store": {"data_dir": data_dir}}), kb, engine, preds)
    report: dict[str, object] = {}
    rows = None
    if do_sweep:
        report, rows = _sweep_report(preds, target_risk, oos_share, risk_confidence)
        rec = report["recommended_threshold"]
        if threshold is None:
            threshold = rec if isinstance(rec, float) else 1.0
    t = 0.70 if threshold is None else threshold
    report = _at_threshold(preds, t, report, engine)
    if plot is not None:
        kb_name = f"{kb.parent.name}/{kb.name}" if kb is not None else "the demo KB"
        title = f"{engine} engine, KB {kb_name}, questions {questions.parent.name}/{questions.name}"
        _plot(plot, preds, t, target_risk, oos_share, risk_confidence, title)
    if json_out:
        if rows is not None:
            report["sweep"] = rows
        print_json(report)
        return
    _show_eval(report, rows)


def _at_threshold(
    preds: Predictions, t: float, sweep_report: dict[str, object], engine: str
) -> dict[str, object]:
    """The metrics at threshold ``t``, then the sweep's report, the engine, how many
    labels named no entry and how many questions the courtesy layer answered."""
    metrics = analytics.compute_metrics(preds.confidence, preds.right, preds.oos, t).as_dict()
    report = {**metrics, **sweep_report, "engine": engine}
    if preds.n_unknown_labels:
        report["unknown_labels_as_oos"] = preds.n_unknown_labels
    report["courtesy_replies"] = preds.n_courtesy
    return report


def _predictions(
    questions: Path, kb: Path | None, engine: str, cache_dir: Path, show_progress: bool
) -> Predictions:
    """Read the questions, load or build the index and answer them all (progress bars on
    stderr when ``show_progress``), or exit with the reason."""
    if not questions.is_file():
        fail(f"questions file not found: {questions}", "not_found")
    try:
        texts, labels = analytics.read_questions(questions)
    except HandoffError as exc:
        fail(exc.detail, exc.code)
    with cli_progress(show_progress) as progress:
        answerer, _, _ = _index(kb, engine, cache_dir, progress)
        ids = {e.id for e in answerer.kb.entries if not e.out_of_scope}
        # Scored as the server serves it: the engine behind the courtesy layer.
        return analytics.predict(
            CourtesyAnswerer(answerer, answerer.kb), ids, texts, labels, progress
        )


def _plot(
    path: Path,
    preds: Predictions,
    threshold: float,
    target: float,
    share: float,
    confidence: float,
    title: str,
) -> None:
    """Write the evaluation's picture (:mod:`handoff_cli.plots`) or exit with the reason."""
    picture = EvalPicture(
        bins=analytics.reliability_bins(preds.confidence, preds.right),
        points=analytics.risk_coverage(
            preds.confidence, preds.right, preds.oos, oos_share=share, confidence_level=confidence
        ),
        threshold=threshold,
        target_risk=target,
        oos_share=share,
        title=f"{title}, {len(preds.confidence)} questions ({int(preds.oos.sum())} out of scope)",
    )
    try:
        write_plot(path, picture)
    except HandoffError as exc:
        fail(exc.detail, exc.code)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", "io_error")


def _sweep_report(
    preds: Predictions, target: float, share: float, confidence: float
) -> tuple[dict[str, object], list[dict[str, float | None]]]:
    """The sweep rows (with each threshold's risk and upper bound) and the report of the
    risk-controlled recommendation."""
    rows = analytics.sweep(preds.confidence, preds.right, preds.oos)
    points = analytics.risk_coverage(
        preds.confidence, preds.right, preds.oos, oos_share=share, confidence_level=confidence
    )
    for row, point in zip(rows, points, strict=True):
        row.update(risk=point.risk, upper_bound=point.upper_bound)
    return _risk_report(points, target, share, confidence), rows


def _risk_report(
    points: list[RiskPoint], target: float, share: float, confidence: float
) -> dict[str, object]:
    """The recommendation, the sentence that states it, and the risk–coverage points."""
    rec = analytics.risk_controlled_threshold(points, target)
    n = points[0].n_in + points[0].n_oos
    mix = f"when {share:.0%} of questions are out of scope"
    if rec is None:
        strict = points[-1]
        sentence = (
            f"No threshold can promise at most {target:.1%} wrong answers {mix} on these "
            f"{n} questions (the strictest threshold's {confidence:.0%} upper bound is "
            f"{strict.upper_bound:.3f}). More labeled questions, out-of-scope ones above "
            "all, tighten the bound."
        )
    else:
        at = next(p for p in points if p.threshold == rec)
        sentence = (
            f"Answer at confidence >= {rec:.2f}: with {confidence:.0%} confidence at most "
            f"{target:.1%} of questions get a wrong answer {mix} (upper bound "
            f"{at.upper_bound:.4f}, estimate {at.risk:.4f}, coverage {at.coverage:.3f}, "
            f"{n} questions)."
        )
    return {
        "recommended_threshold": rec,
        "recommendation": sentence,
        "target_risk": target,
        "oos_share": share,
        "risk_confidence": confidence,
        "risk_coverage": [p.as_dict() for p in points],
    }


def _show_eval(report: dict[str, object], rows: list[dict[str, Any]] | None) -> None:
    """The sweep table (when swept), then one metric a line."""
    if rows is not None:
        cols = [
            "threshold",
            "containment",
            "oos_recall",
            "wrong_answer_rate",
            "coverage",
            "risk",
            "upper_bound",
        ]
        echo(" | ".join(cols))
        for row in rows:
            echo(" | ".join(_fmt(row[c]) for c in cols))
        echo("")
    for key, value in report.items():
        if key not in ("risk_coverage", "recommendation"):
            echo(f"{key:<22} {one_line(_fmt(value))}")
    if "recommendation" in report:
        echo("")
        echo(str(report["recommendation"]))


def register(app: typer.Typer) -> None:
    """Add ``kb`` and ``eval`` to the ``handoff`` app."""
    app.add_typer(kb_app, name="kb")
    app.command("eval")(evaluate)


__all__ = ["evaluate", "kb_app", "register"]
