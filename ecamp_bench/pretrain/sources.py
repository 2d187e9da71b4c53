"""Where a pre-training run's inputs come from: image-report pairs, their contexts, and the tokenizer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer

from ecamp_bench.data.reports import ReportParseSummary, report_parse_summary
from ecamp_bench.errors import DataError
from ecamp_bench.pretrain.config import DataConfig, TextConfig
from ecamp_bench.pretrain.data import PretrainPair
from ecamp_bench.text.distill import default_context_path, distill_contexts, load_contexts
from ecamp_bench.text.distill_rules import RulesBackend
from ecamp_bench.text.tokenizer import load_tokenizer, save_tokenizer, train_wordpiece

log = logging.getLogger(__name__)


def resolve_data_root(cfg: DataConfig) -> Path:
    """``data.root``, or the synthetic default (generated on first use, with progress lines from the first
    process) when it is None."""
    if cfg.root is not None:
        return Path(cfg.root)
    import os

    from ecamp_bench.data.synth import ensure_synthetic_default
    from ecamp_bench.progress import counts_progress

    first = int(os.environ.get("RANK", "0")) == 0
    return Path(ensure_synthetic_default(progress=counts_progress("generating the synthetic default:") if first
                                         else None))


def read_pairs(cfg: DataConfig, root: Path) -> list[PretrainPair]:
    """The frontal training pairs with a non-empty report, contexts attached (see :func:`attach_contexts`)."""
    from ecamp_bench.data.roots import find_layout_root
    from ecamp_bench.plugins import get_catalog

    spec = get_catalog().layout(cfg.layout)
    table = spec.read(find_layout_root(spec, root))
    views = {v.upper() for v in cfg.views}
    chosen = [s for s in table if s.split == cfg.split and (s.view or "").upper() in views]
    log_report_parsing(chosen)
    keep = [s for s in chosen if (s.report or "").strip()]
    if not keep:
        raise DataError(f"no {cfg.split} pairs with a {'/'.join(cfg.views)} view and a report in the "
                        f"{cfg.layout} data set", path=root)
    pairs = [PretrainPair(s.image_id, str(s.image_path), s.report, None, str(s.study_id)) for s in keep]
    return attach_contexts(pairs, cfg, root)


def log_report_parsing(samples: Sequence) -> ReportParseSummary | None:
    """Log how the reports of ``samples`` were parsed (a warning when any fell back or had no text); None for
    a layout whose samples do not say (only the MIMIC-CXR reader records each report's source)."""
    summary = report_parse_summary(samples)
    if not summary.total:
        return None
    if summary.unusual:
        log.warning("%s", summary.describe())
    else:
        log.info("%s", summary.describe())
    return summary


def attach_contexts(pairs: Sequence[PretrainPair], cfg: DataConfig, root: Path) -> list[PretrainPair]:
    """Attach each pair's context by study id from the context file.

    The file is ``data.contexts`` or ``<root>/ecamp_contexts.jsonl``. When it is missing (or lacks studies)
    and ``data.missing_contexts == "distill"``, the offline ``rules`` backend fills it first (a rerun skips
    what is done); with ``"none"`` pairs without a context train on the plain report and a warning is logged.
    """
    path = Path(cfg.contexts) if cfg.contexts is not None else default_context_path(root)
    contexts = load_contexts(path)
    todo = {p.study_id: p.report for p in pairs if p.study_id not in contexts}
    if todo and cfg.missing_contexts == "distill":
        log.info("distilling %d contexts with the rules backend into %s", len(todo), path)
        distill_contexts(list(todo.items()), RulesBackend(), path)
        contexts = load_contexts(path)
    missing = sum(p.study_id not in contexts for p in pairs)
    if missing:
        log.warning("%d of %d pairs have no context in %s; they use the plain report", missing, len(pairs), path)
    return [PretrainPair(p.key, p.image_path, p.report, contexts.get(p.study_id), p.study_id) for p in pairs]


def prepare_tokenizer(cfg: TextConfig, texts: Sequence[str], run_dir: Path, *, write: bool = True) -> Tokenizer:
    """Load ``text.tokenizer``, or the run's saved one (resume, or ranks > 0), or train WordPiece on ``texts``.

    With ``write`` the tokenizer used is saved as ``<run_dir>/tokenizer.json``.
    """
    saved = Path(run_dir) / "tokenizer.json"
    if cfg.tokenizer is not None:
        tokenizer = load_tokenizer(cfg.tokenizer)
    elif saved.is_file():
        return load_tokenizer(saved)
    else:
        tokenizer = train_wordpiece(texts, vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency)
    if write:
        save_tokenizer(tokenizer, saved)
    return tokenizer
