"""``ecamp-bench distill``: entity-centred contexts for every MIMIC-CXR report, stored next to the data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ecamp_bench.cli._options import catalog, console, err_console
from ecamp_bench.errors import ConfigError, UnknownNameError

app = typer.Typer()

BACKENDS = ("rules", "llm", "import")


def _backend(name: str, *, import_csv: Path | None, id_column: str | None, llm: dict):
    if name == "rules":
        from ecamp_bench.text.distill_rules import RulesBackend

        return RulesBackend()
    if name == "llm":
        from ecamp_bench.text.distill_llm import LLMBackend, LLMSettings

        return LLMBackend(LLMSettings(**llm))
    if name == "import":
        if import_csv is None:
            raise ConfigError("--backend import needs --import-csv PATH (the context CSV ECAMP released)")
        from ecamp_bench.text.distill_import import ImportBackend

        return ImportBackend(import_csv, id_column)
    raise UnknownNameError("backend", name, BACKENDS)


def _studies(layout: str, data_root: Path | None) -> tuple[Path, list[tuple[str, str]]]:
    """The layout root and one (study id, report) per study that has a report."""
    from ecamp_bench.data.reports import report_parse_summary
    from ecamp_bench.data.roots import find_layout_root

    spec = catalog().layout(layout)
    if data_root is None:
        from ecamp_bench.data.synth import ensure_synthetic_default
        from ecamp_bench.progress import counts_progress

        data_root = Path(ensure_synthetic_default(progress=counts_progress("generating the synthetic default:")))
    root = find_layout_root(spec, data_root)
    table = spec.read(root)
    summary = report_parse_summary(table)
    if summary.total:  # layouts whose reader records how each report was parsed (MIMIC-CXR)
        (err_console() if summary.unusual else console()).print(escape(summary.describe()), soft_wrap=True)
    items = {s.study_id: s.report for s in table if s.study_id and s.report}
    return root, list(items.items())


def _show_warnings() -> None:
    """Send the library's warnings (e.g. LLM retries) to stderr through rich."""
    from rich.logging import RichHandler

    root = logging.getLogger("ecamp_bench")
    if not root.handlers:
        root.addHandler(RichHandler(console=err_console(), show_path=False, level=logging.WARNING))


@app.command("distill")
def distill(
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Data root (default: the synthetic default).")
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="rules (offline), llm (chat-completions endpoint) or import.")
    ] = "rules",
    out: Annotated[
        Path | None, typer.Option("--out", help="Context file (default: <layout root>/ecamp_contexts.jsonl).")
    ] = None,
    layout: Annotated[str, typer.Option("--layout", help="Layout of the data root.")] = "mimic-cxr",
    force: Annotated[bool, typer.Option("--force", help="Distil again even what is already done.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N studies.", min=1)] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Reports per backend call / file append.", min=1)
    ] = 32,
    import_csv: Annotated[Path | None, typer.Option("--import-csv", help="import: the released context CSV.")] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="import: the study id column.")] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="llm: OpenAI-compatible API base URL.")
    ] = "http://127.0.0.1:8000/v1",
    model: Annotated[str, typer.Option("--model", help="llm: model name.")] = "vicuna-7b",
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="llm: env variable holding the API key.")
    ] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option("--concurrency", help="llm: parallel requests.", min=1)] = 4,
    timeout: Annotated[float, typer.Option("--timeout", help="llm: seconds per request.")] = 60.0,
    max_retries: Annotated[int, typer.Option("--max-retries", help="llm: retries on 429/5xx/timeouts.", min=0)] = 4,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="llm: answer cache (default: <cache>/llm-contexts).")
    ] = None,
) -> None:
    """Distil an entity-centred context (presence, location, severity of each entity) from every report.

    Resumable: studies whose report and backend are unchanged since the last run are skipped.
    """
    from ecamp_bench.text.distill import default_context_path, distill_contexts

    ctx_backend = _backend(
        backend,
        import_csv=import_csv,
        id_column=id_column,
        llm=dict(base_url=base_url, model=model, api_key_env=api_key_env, concurrency=concurrency, timeout_s=timeout,
                 max_retries=max_retries, cache_dir=cache_dir),
    )
    root, items = _studies(layout, data_root)
    items = items[:limit] if limit else items
    path = out or default_context_path(root)
    _show_warnings()
    columns = (TextColumn("distill"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console(), transient=True) as progress:
        task = progress.add_task("distill", total=len(items))
        summary = distill_contexts(
            items, ctx_backend, path, chunk_size=chunk_size, force=force, progress=lambda n: progress.advance(task, n)
        )
    console().print(
        f"{ctx_backend.name}: {summary.done} distilled, {summary.skipped} skipped, {summary.failed} failed "
        f"→ {escape(str(path))}"
    )
    for study_id, message in summary.errors[:5]:
        err_console().print(f"[red]failed[/] study {escape(study_id)}: {escape(message)}")
    if summary.failed:
        raise typer.Exit(1)
