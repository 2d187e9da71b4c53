"""``ecamp-bench list [tasks|backbones|protocols|layouts|recipes]``: what the installed plugins provide.

Backbones are grouped by architecture family (one table per timm family: ``vit``, ``resnet``, ...), each row
with the network an evaluation builds (``random-init`` takes the architecture of the newest file in
``pretrained/``) and the weight file it expects and whether that file is present. Then the user's own files in
``pretrained/`` (as ``file:`` names) and the forms that need no registration (``file:PATH``,
``timm:ARCH --weights PATH``). Long names and paths wrap instead of being cut.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ecamp_bench.cli._options import catalog, console
from ecamp_bench.errors import UnknownNameError
from ecamp_bench.plugins import KINDS, Catalog

app = typer.Typer()


def _describe(kind: str, spec) -> str:
    if kind == "task":
        return (f"{spec.kind}; layout {spec.layout}; protocols {', '.join(spec.protocols)}; "
                f"primary {spec.primary_metric.name}")
    if kind == "protocol":
        presets = "; ".join(f"preset {name}: " + (", ".join(f"{k}={v}" for k, v in values.items()) or "(no changes)")
                            for name, values in sorted(spec.presets.items()))
        return "; ".join(part for part in (f"kinds {', '.join(spec.kinds)}", spec.description, presets) if part)
    if kind == "backbone":
        return f"builds {_built(spec)}; weights {_weights_status(spec)}"
    return spec.description


def protocol_params_table(spec) -> Table:
    """Every parameter of protocol ``spec``: its default (the published value) and each named preset's value
    (blank where the preset keeps the default)."""
    from ecamp_bench.config import to_dict
    from ecamp_bench.evaluation.params import param_meanings

    defaults = to_dict(spec.params())
    presets = sorted(spec.presets)
    table = Table(title=f"{spec.name} parameters (blank: the preset keeps the default)", title_justify="left",
                  caption="default = the published value; --set protocol.KEY=V changes any of them",
                  caption_justify="left")
    table.add_column("parameter", style="bold")
    table.add_column("default")
    for name in presets:
        table.add_column(f"preset {name}")
    meanings = param_meanings(spec.params)
    def preset_cell(name: str, key: str, default) -> str:
        value = (spec.presets[name] or {}).get(key, default)
        same = value == default or (isinstance(value, (list, tuple)) and list(value) == default)
        return "" if same else escape(str(value))  # blank: the preset keeps (or restates) the default

    for key, value in defaults.items():
        cells = [preset_cell(name, key, value) for name in presets]
        shown = f"{value} ({meanings[key]})" if key in meanings else str(value)
        table.add_row(escape(key), escape(shown), *cells)
    return table


def _built(spec) -> str:
    """The architecture an evaluation of ``spec`` builds (random-init: that of the newest file in pretrained/)."""
    from ecamp_bench.models.backbone_refs import RANDOM_INIT, built_architecture, resolve_backbone

    if spec.name == RANDOM_INIT:
        try:
            resolved = resolve_backbone(catalog(), RANDOM_INIT).spec
            return f"{built_architecture(resolved)} ({resolved.description})"
        except Exception as exc:  # an unreadable file in pretrained/ must not break the listing
            return f"{built_architecture(spec)} ({exc})"
    return built_architecture(spec)


def _own_files_table() -> Table | None:
    """The user's backbone files in pretrained/ as ``file:`` backbones (other weight files with the timm form)."""
    from ecamp_bench.models.backbone_refs import built_architecture, file_backbone_name, spec_from_file
    from ecamp_bench.paths import pretrained_dir

    folder = pretrained_dir()
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".safetensors", ".pth", ".pt", ".bin",
                                                                                 ".ckpt")) if folder.is_dir() else []
    if not files:
        return None
    table = Table(title=f"your weight files in {folder}", title_justify="left")
    for column in ("use as", "builds", "file"):
        table.add_column(column, overflow="fold")
    for path in files:
        if path.suffix == ".safetensors":
            try:
                table.add_row(escape(file_backbone_name(path)), escape(built_architecture(spec_from_file(path))),
                              escape(str(path)))
            except Exception as exc:  # not a backbone file: say why, list the rest
                table.add_row(escape(f"file:{path}"), escape(f"unreadable: {exc}"), escape(str(path)))
        else:
            table.add_row(escape(f"--backbone timm:ARCH --weights {path}"), "the timm ARCH you name", escape(str(path)))
    return table


FORMS = ("Also, without registration: --backbone file:PATH (a backbone file; its metadata names the architecture), "
         "--backbone timm:ARCH --weights PATH (any timm architecture, e.g. timm:vit_base_patch16_224, with a local "
         "timm or torchvision checkpoint), and --weights PATH with a registered name (its architecture, your file).")


def _weights_status(spec) -> str:
    if spec.weights is None:
        return "none (random init)"
    try:
        path = catalog().resolve_weights(spec.weights)
    except Exception as exc:  # a resolver plugin failing must not break the listing
        return f"{spec.weights} (unresolved: {exc})"
    state = "present" if path is not None and path.exists() else "missing"
    return f"{path} ({state})"


def _table(cat: Catalog, kind: str, names: list[str], title: str | None = None) -> Table:
    specs = {name: cat.get(kind, name) for name in names}
    versioned = any(hasattr(spec, "version") for spec in specs.values())  # tasks and protocols; backbones have none
    table = Table(title=title or f"{kind}s", title_justify="left")
    table.add_column("name", style="bold", overflow="fold")
    if versioned:
        table.add_column("version", justify="right")
    table.add_column("provider", overflow="fold")
    table.add_column("details", overflow="fold")
    for name, spec in specs.items():
        version = (str(getattr(spec, "version", "")),) if versioned else ()
        cells = (name, *version, str(cat.provider(kind, name)), _describe(kind, spec))
        table.add_row(*(escape(cell) for cell in cells))
    return table


def _by_family(cat: Catalog) -> dict[str, list[str]]:
    """Backbone names grouped by the timm family of their architecture, families in alphabetical order."""
    from ecamp_bench.models.backbone_refs import arch_family

    groups: dict[str, list[str]] = {}
    for name in cat.names("backbone"):
        groups.setdefault(arch_family(cat.get("backbone", name).arch), []).append(name)
    return dict(sorted(groups.items()))


@app.command("list")
def list_command(
    what: Annotated[
        str, typer.Argument(help="tasks, backbones, protocols, layouts, recipes or plugins (default: all).")
    ] = "all",
    name: Annotated[str | None, typer.Argument(help="Show only this item (e.g. `list backbones NAME`).")] = None,
) -> None:
    """List the tasks, backbones, protocols and layouts the installed plugins provide (with their providers), and
    the recipes shipped in configs/recipes/."""
    kinds = {f"{k}s": k for k in KINDS}
    if what == "recipes":
        from ecamp_bench.cli.reproduce import print_recipes

        print_recipes(name)
        return
    if what not in (*kinds, "all", "plugins"):
        raise UnknownNameError("list kind", what, [*kinds, "recipes", "all", "plugins"])
    if name is not None and what not in kinds:
        raise UnknownNameError("list kind with a NAME", what, [*kinds, "recipes"])
    cat = catalog()
    out = console()
    if name is not None:
        cat.get(kinds[what], name)  # an unknown name raises with suggestions
        out.print(_table(cat, kinds[what], [name]))
        if kinds[what] == "protocol":
            out.print(protocol_params_table(cat.get("protocol", name)))
        return
    if what in ("all", "plugins"):
        plugins = Table(title="plugins", title_justify="left")
        plugins.add_column("plugin", style="bold")
        plugins.add_column("distribution")
        plugins.add_column("path")
        for p in cat.plugins:
            plugins.add_row(escape(p.plugin), escape(f"{p.dist}-{p.version}" if p.dist else "(module)"),
                            escape(p.path or ""))
        out.print(plugins)
    for plural, kind in kinds.items():
        if what not in ("all", plural):
            continue
        if kind == "backbone":
            for family, names in _by_family(cat).items():
                out.print(_table(cat, kind, names, title=f"backbones: {family} family"))
            own = _own_files_table()
            if own is not None:
                out.print(own)
            out.print(FORMS, soft_wrap=False)
        else:
            out.print(_table(cat, kind, cat.names(kind)))
    if what == "all":
        from ecamp_bench.cli.reproduce import print_recipes

        print_recipes(None)
    for failure in cat.failures:
        who = escape(f"plugin '{failure.plugin}' ({failure.provider.dist or 'module'})")
        out.print(f"[red]{who} failed to load:[/] {escape(failure.error)}")
