"""``ecamp-bench reproduce NAME --backbone B``: every cell of a paper's tables with its recipe and lists, as a sweep.

The cells are the recipe's (task, protocol, fraction), each run for every ``--seeds`` seed through the sweep
machinery (finished cells are skipped, so an interrupted run resumes). Then one row per cell: our mean over the
seeds next to the published value (``configs/reference/published.yaml`` rows of the recipe's method), the
difference, our 95 % CI (the first seed's bootstrap CI over test images) and whether the published value lies in
it. ``--dry-run`` prints each cell's resolved protocol parameters with the file:line each came from, runs nothing
and needs no ``--backbone``; otherwise the backbone (a ``file:`` glob matching one file) is resolved, its weight
file checked, before any cell starts.
``ecamp-bench list recipes [NAME]`` lists the recipes and a recipe's cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ecamp_bench.cli._options import (
    DataRootOpt, DeviceOpt, NumWorkersOpt, OverridesOpt, PresetOpt, SplitsRootOpt, catalog, console,
)
from ecamp_bench.evaluation.recipes import Recipe, RecipeCell, load_recipe, param_sources, recipe_names

app = typer.Typer()
SPLITS_ENV = "ECAMP_BENCH_SPLITS"


@dataclass(frozen=True)
class ResolvedCell:
    """A recipe cell's protocol parameters after defaults ← recipe ← preset ← ``--set``, and where each came
    from."""

    cell: RecipeCell
    params: dict[str, Any]
    sources: dict[str, str]


def resolve_cell(recipe: Recipe, cell: RecipeCell, preset: str = "default",
                 overrides: tuple[str, ...] = ()) -> ResolvedCell:
    """The resolved protocol parameters of ``cell`` (no data read); parameters absent from ``sources`` keep the
    protocol's default (ours where the source gives none)."""
    from ecamp_bench.config import parse_override, to_dict
    from ecamp_bench.evaluation.eval_config import resolve_protocol_params
    from ecamp_bench.evaluation.params import preset_overrides
    from ecamp_bench.evaluation.recipes import check_cell

    spec = catalog().protocol(cell.protocol)
    check_cell(cell, spec.params, recipe)
    params = to_dict(resolve_protocol_params(spec, preset=preset, recipe_values=cell.overrides(),
                                             overrides=overrides))
    mine = [parse_override(o)[0] for o in overrides if parse_override(o)[0][0] == "protocol"]
    set_keys = {parts[1] for parts in mine if len(parts) > 1}
    return ResolvedCell(cell, params, param_sources(cell, set(preset_overrides(spec, preset)), set_keys))


def recipe_table(recipe: Recipe) -> Table:
    """One row per cell: task, protocol, fraction, its values and source."""
    from ecamp_bench.leaderboard.aggregate import format_fraction

    table = Table(title=f"recipe {recipe.short}: {recipe.description}", title_justify="left")
    for column in ("task", "protocol", "fraction", "values", "source"):
        table.add_column(column, overflow="fold")
    for cell in recipe.cells:
        own = ", ".join(f"{v.key}={v.value}" for v in cell.values if v.source == _cell_source(cell))
        table.add_row(cell.task, cell.protocol, format_fraction(cell.fraction), escape(own), escape(_cell_source(cell)))
    return table


def _cell_source(cell: RecipeCell) -> str:
    return cell.values[-1].source if cell.values else ""


def print_recipes(name: str | None) -> None:
    """``list recipes``: every recipe (name, hash, split, cells, source repo); with ``name``, its cells and notes."""
    out = console()
    if name is not None:
        recipe = load_recipe(name)
        out.print(recipe_table(recipe))
        shared = {}
        for cell in recipe.cells:
            for v in cell.values:
                if v.source != _cell_source(cell):
                    shared.setdefault(cell.protocol, {})[v.key] = v
        for protocol, values in shared.items():
            out.print(f"[bold]{protocol}[/], every cell:", soft_wrap=True)
            for v in values.values():
                out.print(f"  {escape(v.key)} = {escape(str(v.value))}  ({escape(v.source)})", soft_wrap=True)
        for protocol, notes in recipe.notes.items():
            for note in notes:
                out.print(f"[yellow]note[/] {protocol}: {escape(note)}", soft_wrap=True)
        names = ", ".join(f"{theirs} = {ours}" for theirs, ours in recipe.task_names)
        out.print(f"source: {recipe.repo}@{recipe.commit[:7]}; split: {recipe.split or 'ours'}; tasks: {names}",
                  soft_wrap=True)
        return
    table = Table(title="recipes", title_justify="left")
    for column in ("name", "sha256", "split", "cells", "source", "description"):
        table.add_column(column, overflow="fold")
    for recipe in map(load_recipe, recipe_names()):
        table.add_row(recipe.name, recipe.sha256[:8], recipe.split or "ours", str(len(recipe.cells)),
                      escape(f"{recipe.repo}@{recipe.commit[:7]}"), escape(recipe.description))
    out.print(table)


def choose_split(recipe: Recipe, splits_root: Path | None, our_splits: bool) -> tuple[str | None, str]:
    """The ``--split`` value the cells run with, and a sentence saying which lists that is."""
    import os

    if recipe.split is None:
        return None, "recipe without published lists: our own seeded splits"
    if our_splits:
        return "ours", f"--our-splits: our own seeded splits, not the {recipe.split} lists"
    if splits_root is None and not os.environ.get(SPLITS_ENV):
        return "ours", (f"published {recipe.split} lists absent (no --splits-root, no ${SPLITS_ENV}): "
                        "evaluating on our own seeded splits")
    return recipe.split, f"the published {recipe.split} lists"


def published_value(recipe: Recipe, cell: RecipeCell, references) -> tuple[float | None, str, str]:
    """``(value, metric, source)`` of the recipe's published row for ``cell`` (``None`` when there is none)."""
    protocol = recipe.published_protocol or cell.protocol
    for row in references:
        if row.method == recipe.published_method and row.protocol == protocol and row.task == cell.task:
            for fraction, value in row.values.items():
                if abs(fraction - cell.fraction) < 1e-9:
                    return value, row.metric, row.source
    return None, "", ""


@app.command("reproduce")
def reproduce_command(
    name: Annotated[str, typer.Argument(help="Recipe name (`ecamp-bench list recipes`) or a recipe YAML file.")],
    backbone: Annotated[
        str | None, typer.Option("--backbone", help="Backbone name or file:PATH to evaluate (--dry-run: optional).")
    ] = None,
    data_root: DataRootOpt = None,
    splits_root: SplitsRootOpt = None,
    preset: PresetOpt = "default",
    overrides: OverridesOpt = [],  # noqa: B006
    seeds: Annotated[str, typer.Option("--seeds", help="Comma list or range of seeds.")] = "0",
    tasks: Annotated[str | None, typer.Option("--tasks", help="Only these tasks (comma list).")] = None,
    our_splits: Annotated[
        bool, typer.Option("--our-splits", help="Our own seeded splits, not the recipe's lists.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each cell's resolved parameters and sources.")
    ] = False,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = 0,
) -> None:
    """Run every cell of a paper's tables with its recipe and lists, then compare with the published numbers."""
    from ecamp_bench.sweep.grid import Cell, parse_seeds, split_list

    recipe = load_recipe(name)
    wanted = set(split_list(tasks, "tasks")) if tasks else None
    cells = [c for c in recipe.cells if wanted is None or c.task in wanted]
    if not cells:
        raise typer.BadParameter(f"recipe {recipe.name} has no cell for tasks {sorted(wanted or [])}")
    backbone = reproduce_backbone(backbone, dry_run)
    split, split_note = choose_split(recipe, splits_root, our_splits)
    out = console()
    out.print(f"recipe {recipe.short} ({recipe.repo}@{recipe.commit[:7]}); {split_note}", soft_wrap=True)
    if dry_run:
        for cell in cells:
            _print_resolved(resolve_cell(recipe, cell, preset, tuple(overrides)))
        runs = len(cells) * len(parse_seeds(seeds))
        then = "" if backbone else " Without --dry-run, pass --backbone."
        out.print(f"dry run: {len(cells)} recipe cell(s) × {len(parse_seeds(seeds))} seed(s) = {runs} evaluation(s) "
                  f"per backbone; nothing was run.{then}", soft_wrap=True)
        return
    from ecamp_bench.cli.sweep import SweepDisplay, _print_summary
    from ecamp_bench.sweep.runner import SweepSettings, run_sweep

    assert backbone is not None  # reproduce_backbone: only --dry-run goes without one
    cat = catalog()
    grid = sorted({Cell(c.task, c.protocol, backbone, c.fraction, s) for c in cells for s in parse_seeds(seeds)})
    settings = SweepSettings(data_root=data_root, preset=preset, overrides=tuple(overrides), device=device,
                             num_workers=num_workers, split=split, splits_root=splits_root, recipe=name)
    display = SweepDisplay(f": {len(grid)} cells")
    with display.running():
        summary = run_sweep(grid, settings, cat, display)
    _print_summary(summary)
    out.print(comparison_table(recipe, cells, grid, settings))
    if summary.failures:
        raise typer.Exit(1)


def reproduce_backbone(backbone: str | None, dry_run: bool) -> str | None:
    """The one backbone the cells run with (a ``file:`` glob must match one file), checked before any cell starts.

    Raises :class:`~ecamp_bench.errors.EcampBenchError` for a run without ``--backbone`` (only ``--dry-run``, which
    runs nothing, needs none: ``None``), a glob matching no file or several, or a backbone the weight resolver
    cannot build (an unknown name, a missing or unreadable weight file: the error names it).
    """
    from ecamp_bench.errors import ConfigError
    from ecamp_bench.sweep.grid import check_backbones, expand_backbone_globs

    if backbone is None:
        if dry_run:
            return None
        raise ConfigError("reproduce needs --backbone (e.g. --backbone file:PATH or --backbone random-init); "
                          "only --dry-run, which runs nothing, goes without one")
    refs = expand_backbone_globs([backbone], "--backbone")
    if len(refs) != 1:
        raise ConfigError(f"--backbone {backbone!r} matches {len(refs)} files ({', '.join(refs)}); reproduce runs one "
                          "backbone (sweep --backbones takes several)")
    check_backbones(catalog(), refs)
    return refs[0]


def _print_resolved(resolved: ResolvedCell) -> None:
    from ecamp_bench.evaluation.params import param_meanings
    from ecamp_bench.leaderboard.aggregate import format_fraction

    cell, out = resolved.cell, console()
    out.print(f"[bold]{cell.task} {cell.protocol} {format_fraction(cell.fraction)}[/]", soft_wrap=True)
    meanings = param_meanings(catalog().protocol(cell.protocol).params)
    for key, value in resolved.params.items():
        source = resolved.sources.get(key, "protocol default: not given by the source")
        meaning = f"; {meanings[key]}" if key in meanings else ""
        out.print(f"  {key} = {value}  ({escape(source)}{escape(meaning)})", soft_wrap=True)


def comparison_table(recipe: Recipe, cells: list[RecipeCell], grid, settings) -> Table:
    """Ours (mean over seeds) next to the published value: difference, our 95 % CI, published value inside it."""
    from ecamp_bench.config import shipped_configs
    from ecamp_bench.leaderboard.aggregate import format_fraction
    from ecamp_bench.leaderboard.reference import load_references
    from ecamp_bench.results.store import try_read_record
    from ecamp_bench.sweep.runner import plan_cells

    references = load_references(shipped_configs() / "reference" / "published.yaml")
    records: dict[tuple, list] = {}
    for result in plan_cells(grid, settings, catalog()):
        record = try_read_record(result.path) if result.path is not None else None
        if record is not None and record.ok:
            records.setdefault((result.cell.task, result.cell.protocol, result.cell.fraction), []).append(record)
    table = Table(title=f"reproduce {recipe.short}: ours vs published ({recipe.published_method or 'no method'})",
                  title_justify="left")
    for column in ("task", "protocol", "fraction", "metric", "ours", "seeds", "95% CI", "published", "diff", "in CI",
                   "published source"):
        table.add_column(column, overflow="fold")
    for cell in cells:
        runs = records.get((cell.task, cell.protocol, cell.fraction), [])
        value, metric, source = published_value(recipe, cell, references)
        metric = metric or (runs[0].primary_metric if runs else "")
        ours = [m for r in runs for m in r.metrics if m.name == metric and m.value is not None]
        mean = sum(m.value for m in ours) / len(ours) if ours else None
        ci = ours[0].ci95 if ours else None
        inside = "—" if value is None or ci is None else ("yes" if ci[0] <= value <= ci[1] else "no")
        table.add_row(
            cell.task, cell.protocol, format_fraction(cell.fraction), metric or "—", _num(mean), str(len(ours)),
            f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "—", _num(value),
            _num(mean - value) if mean is not None and value is not None else "—", inside,
            escape(source) if source else "not in published.yaml",
        )
    return table


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


__all__ = ["ResolvedCell", "choose_split", "comparison_table", "print_recipes", "reproduce_backbone", "resolve_cell"]
