"""``ecamp-bench list [tasks|backbones|protocols|layouts]``: what the installed plugins provide."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ecamp_bench.cli._options import catalog, console
from ecamp_bench.errors import UnknownNameError
from ecamp_bench.plugins import KINDS, Catalog

app = typer.Typer()


def _describe(kind: str, spec) -> str:
    if kind == "task":
        return f"{spec.kind}; layout {spec.layout}; protocols {', '.join(spec.protocols)}; primary {spec.primary_metric.name}"
    if kind == "protocol":
        return f"kinds {', '.join(spec.kinds)}; {spec.description}".strip("; ")
    if kind == "backbone":
        return f"{spec.arch}; weights {_weights_status(spec)}"
    return spec.description


def _weights_status(spec) -> str:
    if spec.weights is None:
        return "none (random init)"
    try:
        path = catalog().resolve_weights(spec.weights)
    except Exception as exc:  # a resolver plugin failing must not break the listing
        return f"{spec.weights} (unresolved: {exc})"
    state = "present" if path is not None and path.exists() else "missing"
    return f"{path} ({state})"


def _table(cat: Catalog, kind: str) -> Table:
    table = Table(title=f"{kind}s", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("version", justify="right")
    table.add_column("provider")
    table.add_column("details")
    for name in cat.names(kind):
        spec = cat.get(kind, name)
        version = str(getattr(spec, "version", "")) if hasattr(spec, "version") else ""
        table.add_row(name, version, str(cat.provider(kind, name)), _describe(kind, spec))
    return table


@app.command("list")
def list_command(
    what: Annotated[str, typer.Argument(help="tasks, backbones, protocols, layouts or plugins (default: all).")] = "all",
) -> None:
    """List the tasks, backbones, protocols and layouts the installed plugins provide, with their providers."""
    cat = catalog()
    kinds = {f"{k}s": k for k in KINDS}
    out = console()
    if what not in (*kinds, "all", "plugins"):
        raise UnknownNameError("list kind", what, [*kinds, "all", "plugins"])
    if what in ("all", "plugins"):
        plugins = Table(title="plugins", title_justify="left")
        plugins.add_column("plugin", style="bold")
        plugins.add_column("distribution")
        plugins.add_column("path")
        for p in cat.plugins:
            plugins.add_row(p.plugin, f"{p.dist}-{p.version}" if p.dist else "(module)", p.path or "")
        out.print(plugins)
    for plural, kind in kinds.items():
        if what in ("all", plural):
            out.print(_table(cat, kind))
    for failure in cat.failures:
        out.print(f"[red]plugin '{failure.plugin}' ({failure.provider.dist or 'module'}) failed to load:[/] {failure.error}")
