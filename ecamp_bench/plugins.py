"""Plugin loading and the validated catalog of layouts, tasks, protocols and backbones.

Plugins come from three places, in this order:

1. :data:`BUILTIN_PLUGINS`, the in-tree plugin modules listed here in code (as pytest lists its default
   plugins), so a new in-tree plugin is one module plus one line here, with no reinstall;
2. the entry-point group ``ecamp_bench`` of installed distributions (third parties);
3. ``--plugin pkg.module`` / ``ECAMP_BENCH_PLUGINS=a.b,c.d``.

Any of them can be blocked by name with ``--no-plugin NAME``. ``ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD=1`` keeps
the built-ins (and entry points the ``ecamp-bench`` distribution itself declares) and skips third-party entry
points (hermetic tests).

Unlike ``pluggy.PluginManager.load_setuptools_entrypoints``, one plugin that fails to import does not
abort the others: it is recorded as a :class:`PluginFailure` that ``ecamp-bench list`` shows.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from ecamp_bench import hookspecs
from ecamp_bench.errors import PluginError, UnknownNameError
from ecamp_bench.specs import BackboneSpec, LayoutSpec, ProtocolSpec, TaskSpec

OWN_DISTRIBUTION = "ecamp-bench"
AUTOLOAD_OFF_ENV = "ECAMP_BENCH_DISABLE_PLUGIN_AUTOLOAD"
EXTRA_PLUGINS_ENV = "ECAMP_BENCH_PLUGINS"
KINDS = ("layout", "task", "protocol", "backbone")

#: The in-tree plugins: ``(name, module)``; the name is what ``--no-plugin`` blocks and ``list plugins`` shows.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("layout-mimic-cxr", "ecamp_bench_plugins.layouts.mimic_cxr"),
    ("layout-chexpert", "ecamp_bench_plugins.layouts.chexpert"),
    ("layout-rsna-pneumonia", "ecamp_bench_plugins.layouts.rsna"),
    ("layout-siim-acr", "ecamp_bench_plugins.layouts.siim"),
    ("layout-nih-cxr14", "ecamp_bench_plugins.layouts.nih_cxr14"),
    ("layout-covidx-cxr", "ecamp_bench_plugins.layouts.covidx"),
    ("task-chexpert-cls", "ecamp_bench_plugins.tasks.chexpert_cls"),
    ("task-covidx-cls", "ecamp_bench_plugins.tasks.covidx_cls"),
    ("task-nih-cxr14-cls", "ecamp_bench_plugins.tasks.nih_cxr14_cls"),
    ("task-rsna-cls", "ecamp_bench_plugins.tasks.rsna_cls"),
    ("task-rsna-det", "ecamp_bench_plugins.tasks.rsna_det"),
    ("task-rsna-seg", "ecamp_bench_plugins.tasks.rsna_seg"),
    ("task-siim-seg", "ecamp_bench_plugins.tasks.siim_seg"),
    ("task-external-cls", "ecamp_bench_plugins.tasks.external_cls"),
    ("protocol-linear", "ecamp_bench_plugins.protocols.linear"),
    ("protocol-finetune", "ecamp_bench_plugins.protocols.finetune"),
    ("protocol-frozen-seg", "ecamp_bench_plugins.protocols.frozen_seg"),
    ("protocol-finetune-seg", "ecamp_bench_plugins.protocols.finetune_seg"),
    ("protocol-frozen-det", "ecamp_bench_plugins.protocols.frozen_det"),
    ("protocol-det", "ecamp_bench_plugins.protocols.det"),
    ("protocol-knn", "ecamp_bench_plugins.protocols.knn"),
    ("backbone-random-init", "ecamp_bench_plugins.backbones.random_init"),
    ("backbone-published", "ecamp_bench_plugins.backbones.published"),
    ("backbone-resnet50", "ecamp_bench_plugins.backbones.resnet50"),
    ("backbone-imagenet", "ecamp_bench_plugins.backbones.imagenet"),
    ("backbone-rad-dino", "ecamp_bench_plugins.backbones.rad_dino"),
    ("backbone-biomedclip", "ecamp_bench_plugins.backbones.biomedclip"),
    ("backbone-chexzero", "ecamp_bench_plugins.backbones.chexzero"),
    ("backbone-swin", "ecamp_bench_plugins.backbones.swin"),
)


@dataclass(frozen=True)
class Provider:
    """Where a spec came from: plugin name, distribution and version, and the module's file."""

    plugin: str
    dist: str | None = None
    version: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        who = f"{self.plugin} ({self.dist}-{self.version})" if self.dist else self.plugin
        return f"{who} at {self.path}" if self.path else who

    @property
    def dist_version(self) -> str:
        """``"dist==version"`` for result records, or the plugin name when it has no distribution."""
        return f"{self.dist}=={self.version}" if self.dist else self.plugin


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, and why."""

    plugin: str
    provider: Provider
    error: str


class _DefaultWeights:
    """Built-in fallback for ``ecamp_bench_resolve_weights``: a local path, relative ones under ``pretrained/``."""

    @hookspecs.hookimpl(trylast=True)
    def ecamp_bench_resolve_weights(self, ref: str) -> Path | None:
        from ecamp_bench.paths import pretrained_dir

        path = Path(ref).expanduser()
        if path.is_absolute() or path.exists():
            return path
        return pretrained_dir() / path


@dataclass
class Catalog:
    """Validated name → spec maps for every kind, with the provider of each spec."""

    specs: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: {} for k in KINDS})
    providers: dict[str, dict[str, Provider]] = field(default_factory=lambda: {k: {} for k in KINDS})
    failures: list[PluginFailure] = field(default_factory=list)
    plugins: list[Provider] = field(default_factory=list)
    manager: pluggy.PluginManager | None = None

    def names(self, kind: str) -> list[str]:
        """All registered names of ``kind`` (``layout``, ``task``, ``protocol`` or ``backbone``), sorted."""
        return sorted(self.specs[kind])

    def get(self, kind: str, name: str) -> Any:
        """The spec called ``name``; an unknown name raises :class:`UnknownNameError` with suggestions.

        Where a plugin failed to load, the error says so, because the name may have come from it.
        """
        try:
            return self.specs[kind][name]
        except KeyError:
            err = UnknownNameError(kind, name, self.specs[kind])
            if self.failures:
                failed = "; ".join(f"{f.plugin}: {f.error}" for f in self.failures)
                raise PluginError(f"{err} (plugins that failed to load: {failed})") from None
            raise err from None

    def layout(self, name: str) -> LayoutSpec:
        """The layout called ``name``."""
        return self.get("layout", name)

    def task(self, name: str) -> TaskSpec:
        """The task called ``name``."""
        return self.get("task", name)

    def protocol(self, name: str) -> ProtocolSpec:
        """The protocol called ``name``."""
        return self.get("protocol", name)

    def backbone(self, name: str) -> BackboneSpec:
        """The backbone called ``name``."""
        return self.get("backbone", name)

    def provider(self, kind: str, name: str) -> Provider:
        """The provider of the ``kind`` spec called ``name``."""
        return self.providers[kind][name]

    def resolve_weights(self, ref: str) -> Path:
        """Resolve a weight reference to a local path through the ``ecamp_bench_resolve_weights`` hook."""
        assert self.manager is not None
        return self.manager.hook.ecamp_bench_resolve_weights(ref=ref)

    def notify_run_finished(self, record) -> None:
        """Call every ``ecamp_bench_run_finished`` observer with a finished run's record."""
        assert self.manager is not None
        self.manager.hook.ecamp_bench_run_finished(record=record)


def _module_path(module: ModuleType) -> str | None:
    return getattr(module, "__file__", None)


def _entry_points() -> list[tuple[md.EntryPoint, md.Distribution | None]]:
    found = []
    for dist in md.distributions():
        for ep in dist.entry_points:
            if ep.group == hookspecs.PROJECT:
                found.append((ep, dist))
    unique = {(ep.name, ep.value): (ep, dist) for ep, dist in found}
    return sorted(unique.values(), key=lambda pair: pair[0].name)


def _is_own(dist: md.Distribution | None) -> bool:
    return dist is not None and (dist.metadata["Name"] or "").lower().replace("_", "-") == OWN_DISTRIBUTION


def build_manager(
    *, autoload: bool | None = None, extra_plugins: Sequence[str] = (), blocked: Iterable[str] = ()
) -> tuple[pluggy.PluginManager, list[Provider], list[PluginFailure]]:
    """Create the plugin manager and register every plugin, collecting load failures instead of raising."""
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_OFF_ENV, "") not in ("1", "true", "yes")
    env_extra = [m for m in os.environ.get(EXTRA_PLUGINS_ENV, "").split(",") if m.strip()]
    blocked = set(blocked)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_DefaultWeights(), name="ecamp-bench-default-weights")
    loaded: list[Provider] = []
    failures: list[PluginFailure] = []
    modules: dict[str, str] = {}  # plugin name -> module reference

    def register(name: str, module_ref: str, provider: Provider) -> None:
        if name in blocked:
            return
        if name in modules:
            if modules[name] != module_ref:
                taken = f"plugin name '{name}' is already used by module '{modules[name]}'"
                failures.append(PluginFailure(name, provider, f"PluginError: {taken}; '{module_ref}' not loaded"))
            return
        try:
            module = importlib.import_module(module_ref)
        except Exception as exc:  # a broken plugin must not take the others down
            failures.append(PluginFailure(name, provider, f"{type(exc).__name__}: {exc}"))
            return
        modules[name] = module_ref
        if pm.is_registered(module):  # the same module reached twice (entry point and --plugin)
            return
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin '{name}' ({_module_path(module)}) has an invalid hook: {exc}") from exc
        loaded.append(Provider(provider.plugin, provider.dist, provider.version, _module_path(module)))

    from ecamp_bench import __version__

    for name, module_ref in BUILTIN_PLUGINS:
        register(name, module_ref, Provider(name, OWN_DISTRIBUTION, __version__))
    for ep, dist in _entry_points():
        if not autoload and not _is_own(dist):
            continue
        dist_name = dist.metadata["Name"] if dist else None
        register(ep.name, ep.value, Provider(ep.name, dist_name, dist.version if dist else None))
    for module_ref in [*env_extra, *extra_plugins]:
        register(module_ref.strip(), module_ref.strip(), Provider(module_ref.strip()))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a plugin implements an unknown hook: {exc}") from exc
    return pm, loaded, failures


def _collect(pm: pluggy.PluginManager, providers_by_plugin: dict[str, Provider], catalog: Catalog) -> None:
    hooks = {
        "layout": ("ecamp_bench_layouts", LayoutSpec),
        "task": ("ecamp_bench_tasks", TaskSpec),
        "protocol": ("ecamp_bench_protocols", ProtocolSpec),
        "backbone": ("ecamp_bench_backbones", BackboneSpec),
    }
    for kind, (hook_name, spec_type) in hooks.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
            provider = providers_by_plugin.get(plugin_name, Provider(plugin_name))
            try:
                specs = impl.function() or []
            except Exception as exc:
                catalog.failures.append(PluginFailure(plugin_name, provider, f"{hook_name}: {exc!r}"))
                continue
            for spec in specs:
                if not isinstance(spec, spec_type):
                    raise PluginError(f"{provider}: {hook_name} returned {spec!r}, not a {spec_type.__name__}")
                if spec.name in catalog.specs[kind]:
                    first = catalog.providers[kind][spec.name]
                    raise PluginError(f"duplicate {kind} name '{spec.name}': provided by {first} and by {provider}")
                catalog.specs[kind][spec.name] = spec
                catalog.providers[kind][spec.name] = provider
    for kind in KINDS:
        catalog.specs[kind] = dict(sorted(catalog.specs[kind].items()))


_DEFINED: dict[str, set[str] | None] = {}


def _top_level_names(module: str) -> set[str] | None:
    """Names a module defines at top level, read from its source without importing it (``None`` = cannot tell:
    no source file, a star import or a module ``__getattr__``). Raises ``ModuleNotFoundError`` when absent."""
    if module in _DEFINED:
        return _DEFINED[module]
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)  # imports the parent packages only (cheap), never the module
    if spec is None:
        raise ModuleNotFoundError(f"No module named '{module}'")
    names: set[str] | None = None
    if spec.origin and spec.origin.endswith(".py") and os.path.isfile(spec.origin):
        with open(spec.origin, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), spec.origin)
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if any(a.name == "*" for a in node.names):
                    names = None
                    break
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
        if names is not None and "__getattr__" in names:
            names = None
    _DEFINED[module] = names
    return names


def check_reference(ref: str) -> str | None:
    """Why the ``"module:attr"`` reference ``ref`` cannot resolve (``None`` when it can), without importing
    the module itself: the module must exist and define ``attr`` at top level. Keeps ``list`` torch-free."""
    module, sep, attr = ref.partition(":")
    if not module or (sep and not attr):
        return f"'{ref}' is not of the form 'package.module:attr'"
    try:
        names = _top_level_names(module)
    except (ImportError, ValueError, SyntaxError) as exc:
        return f"cannot find module '{module}' of '{ref}' ({exc})"
    head = attr.split(".")[0]
    if head and names is not None and head not in names:
        import difflib

        close = difflib.get_close_matches(head, sorted(names), n=1)
        hint = f" Did you mean '{module}:{close[0]}'?" if close else ""
        return f"'{ref}': module '{module}' defines no '{head}'.{hint}"
    return None


def spec_references(kind: str, spec: Any) -> list[tuple[str, str]]:
    """``(field, "module:attr")`` pairs a spec points to (implementation, run, adapt_state_dict, metric value_fn)."""
    refs: list[tuple[str, str | None]] = []
    if kind == "task":
        refs.append(("implementation", spec.implementation))
        refs.extend((f"metrics[{m.name}].value_fn", m.value_fn) for m in spec.metrics)
    elif kind == "protocol":
        refs.append(("run", spec.run))
    elif kind == "backbone":
        refs.append(("adapt_state_dict", spec.adapt_state_dict))
    return [(name, ref) for name, ref in refs if ref]


def _validate_references(catalog: Catalog) -> None:
    for task in catalog.specs["task"].values():
        where = catalog.providers["task"][task.name]
        if task.layout not in catalog.specs["layout"]:
            err = UnknownNameError("layout", task.layout, catalog.specs["layout"])
            raise PluginError(f"task '{task.name}' from {where}: {err}")
        for proto_name in task.protocols:
            if proto_name not in catalog.specs["protocol"]:
                err = UnknownNameError("protocol", proto_name, catalog.specs["protocol"])
                raise PluginError(f"task '{task.name}' from {where}: {err}")
            proto = catalog.specs["protocol"][proto_name]
            if task.kind not in proto.kinds:
                raise PluginError(
                    f"task '{task.name}' from {where} lists protocol '{proto_name}', "
                    f"which supports {list(proto.kinds)}, not '{task.kind}'"
                )
    for kind in ("task", "protocol", "backbone"):  # every "module:attr" resolves (checked without importing it)
        for spec in catalog.specs[kind].values():
            for field_name, ref in spec_references(kind, spec):
                problem = check_reference(ref)
                if problem is not None:
                    where = catalog.providers[kind][spec.name]
                    raise PluginError(f"{kind} '{spec.name}' from {where}: {field_name} {problem}")


def load_catalog(
    *, autoload: bool | None = None, extra_plugins: Sequence[str] = (), blocked: Iterable[str] = ()
) -> Catalog:
    """Load every plugin and return the validated :class:`Catalog`.

    Raises :class:`PluginError` on a duplicate name (naming both providers) or a dangling cross-reference.
    """
    pm, loaded, failures = build_manager(autoload=autoload, extra_plugins=extra_plugins, blocked=blocked)
    catalog = Catalog(failures=list(failures), plugins=loaded, manager=pm)
    _collect(pm, {p.plugin: p for p in loaded}, catalog)
    _validate_references(catalog)
    return catalog


_CACHE: dict[tuple, Catalog] = {}
_SESSION_OPTIONS: dict[str, tuple[str, ...]] = {"extra": (), "blocked": ()}


def set_session_plugin_options(*, extra_plugins: Sequence[str] = (), blocked: Iterable[str] = ()) -> None:
    """Set the ``--plugin`` / ``--no-plugin`` choices of this process (the CLI does, once per invocation);
    :func:`get_catalog` called without arguments then honours them, wherever it is called from."""
    _SESSION_OPTIONS["extra"] = tuple(extra_plugins)
    _SESSION_OPTIONS["blocked"] = tuple(blocked)


def session_plugin_options() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(extra plugins, blocked plugins)`` of this session, to hand to a job that rebuilds the catalog."""
    return tuple(_SESSION_OPTIONS["extra"]), tuple(_SESSION_OPTIONS["blocked"])


def get_catalog(*, extra_plugins: Sequence[str] | None = None, blocked: Iterable[str] | None = None) -> Catalog:
    """The process-wide catalog for these plugin options (default: the session's), loaded once, then reused."""
    extra = tuple(_SESSION_OPTIONS["extra"] if extra_plugins is None else extra_plugins)
    block = tuple(sorted(_SESSION_OPTIONS["blocked"] if blocked is None else blocked))
    key = (extra, block, os.environ.get(AUTOLOAD_OFF_ENV, ""), os.environ.get(EXTRA_PLUGINS_ENV, ""))
    if key not in _CACHE:
        _CACHE[key] = load_catalog(extra_plugins=extra, blocked=block)
    return _CACHE[key]


def reset_catalog() -> None:
    """Forget cached catalogs and the session's plugin options (after installing a plugin, or between tests)."""
    _CACHE.clear()
    set_session_plugin_options()
