"""Name -> implementation registries that import lazily and refuse unknown names with the choices.

A registry may also accept a reference to the user's own code, ``"module:object"``: a module on
the Python path (``mypkg.search:make``), or a file next to the experiment file (``train.py:train``,
``algs/search.py:make``, a path relative to the experiment file's directory). `import_reference`
imports it; the registry's ``plugin`` check says whether the object is of the right kind.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hpotk.errors import ConfigError

REFERENCE_HELP = ("'module:object' (a module on the Python path, or a file next to the "
                  "experiment file such as 'train.py:train')")


class Registry:
    """Maps a name to ``"module.path:attribute"``; the module is imported on first use.

    Args:
        kind: what the registry holds ("searcher", "scheduler", ...), used in error messages.
        entries: name -> "module:attribute".
        plugin: if given, ``"module:object"`` references are accepted too, and
            ``plugin(obj, path, reference)`` refuses (ConfigError) an object of the wrong kind.
    """

    def __init__(self, kind: str, entries: dict[str, str],
                 plugin: Callable[[Any, str, str], None] | None = None):
        self.kind = kind
        self._entries = dict(entries)
        self._plugin = plugin

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def register(self, name: str, target: str) -> None:
        self._entries[name] = target

    def is_plugin(self, name: object) -> bool:
        """Whether ``name`` is a reference to the user's code rather than a registered name."""
        return self._plugin is not None and name not in self._entries and is_reference(name)

    def canonical(self, name: str, path: str = "", base_dir: str | Path | None = None) -> str:
        """``name`` checked: a registered name as it is, a reference imported, checked and with
        a file path made absolute (so it still holds when read from another directory)."""
        if self.is_plugin(name):
            self._plugin(import_reference(name, path, base_dir), path, name)
            return canonical_reference(name, base_dir)
        self._refuse_unknown(name, path)
        return name

    def resolve(self, name: str, path: str = "", base_dir: str | Path | None = None) -> Any:
        """The object registered as ``name`` (or that a reference names); ConfigError naming
        the choices if there is none."""
        if self.is_plugin(name):
            obj = import_reference(name, path, base_dir)
            self._plugin(obj, path, name)
            return obj
        self._refuse_unknown(name, path)
        module_name, _, attribute = self._entries[name].partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attribute)

    def module_of(self, name: str, path: str = "") -> Any:
        """The module that defines ``name`` (a registered one's, or the reference's), where
        optional companions such as ``describe`` live."""
        if self.is_plugin(name):
            self.resolve(name, path)
            module, _ = _split(name, path)
            return sys.modules[Path(module).stem if _is_file(module) else module]
        self._refuse_unknown(name, path)
        return importlib.import_module(self._entries[name].partition(":")[0])

    def _refuse_unknown(self, name: object, path: str) -> None:
        if name in self._entries:
            return
        close = difflib.get_close_matches(str(name), self.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        own = f", or your own as {REFERENCE_HELP}" if self._plugin else ""
        raise ConfigError(path, f"unknown {self.kind} {name!r}{hint}; choose one of "
                                f"{self.names()}{own}")


# ---------------------------------------------------------------------------------------------
# References to the user's code


def is_reference(name: object) -> bool:
    """``"module:object"`` (or ``"file.py:object"``)."""
    return isinstance(name, str) and ":" in name


def _split(reference: str, path: str) -> tuple[str, str]:
    module, _, attribute = reference.rpartition(":")
    if not module.strip() or not attribute.strip():
        raise ConfigError(path, f"{reference!r} is not a reference: expected {REFERENCE_HELP}")
    return module.strip(), attribute.strip()


def _is_file(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def _file_of(module: str, base_dir: str | Path | None) -> Path:
    file = Path(module).expanduser()
    return file if file.is_absolute() else Path(base_dir or Path.cwd()).resolve() / file


def canonical_reference(reference: str, base_dir: str | Path | None = None) -> str:
    """A file reference with its path made absolute; a module reference as it is."""
    module, _, attribute = reference.rpartition(":")
    if _is_file(module):
        return f"{_file_of(module, base_dir)}:{attribute}"
    return reference


def import_reference(reference: str, path: str, base_dir: str | Path | None = None) -> Any:
    """The object ``"module:object"`` names, importing its module.

    A module file next to the experiment (``base_dir``) is found without ``PYTHONPATH``: its
    directory goes on ``sys.path`` (as Python does for a script's directory), so the modules it
    imports are found too. A module of the same name imported from elsewhere earlier in this
    process (another experiment's ``train.py``) is replaced.

    Raises:
        ConfigError: a missing file or module, an import that fails, a missing attribute.
    """
    module_name, attribute = _split(reference, path)
    if _is_file(module_name):
        module = _import_file(_file_of(module_name, base_dir), reference, path, base_dir)
    else:
        module = _import_module(module_name, reference, path, base_dir)
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            defined = sorted(k for k, v in vars(module).items()
                             if not k.startswith("_") and getattr(v, "__module__", None)
                             == module.__name__)
            raise ConfigError(path, f"module {module_name!r} ({module.__file__}) has no "
                                    f"attribute {attribute!r}; it defines {defined}")
        obj = getattr(obj, part)
    return obj


_USER_DIRS: list[Path] = []  # the experiments' directories put on sys.path, in this process


def _put_on_path(directory: Path) -> None:
    """``directory`` first on ``sys.path``; modules that another experiment's directory gave
    under the names of this one's modules are forgotten, so this one's own are imported."""
    directory = directory.resolve()
    entry = str(directory)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    if directory not in _USER_DIRS:
        _USER_DIRS.append(directory)
    importlib.invalidate_caches()  # the file may be newer than Python's directory listing
    names = {p.stem for p in directory.glob("*.py")} | {
        p.parent.name for p in directory.glob("*/__init__.py")}
    for key, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if key.split(".")[0] not in names or file is None:
            continue
        origin = next((d for d in _USER_DIRS if d in Path(file).resolve().parents), None)
        if origin is not None and origin != directory:
            del sys.modules[key]


def _import_file(file: Path, reference: str, path: str, base_dir: Any) -> Any:
    if not file.is_file():
        where = (f" (a relative path is taken from the experiment file's directory, "
                 f"{Path(base_dir or Path.cwd()).resolve()})")
        raise ConfigError(path, f"no module file {str(file)!r} for {reference!r}{where}")
    name = file.stem
    if not name.isidentifier():
        raise ConfigError(path, f"{file.name!r} cannot be imported as a Python module: name it "
                                f"with letters, digits and '_' (e.g. {name.replace('-', '_')}.py)")
    _put_on_path(file.parent)
    loaded = sys.modules.get(name)
    if loaded is not None and _same_file(getattr(loaded, "__file__", None), file):
        return loaded
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise ConfigError(path, f"importing {str(file)!r} failed: "
                                f"{type(exc).__name__}: {exc}") from None
    return module


def _import_module(name: str, reference: str, path: str, base_dir: Any) -> Any:
    top = name.split(".")[0]
    local = None
    if base_dir is not None:
        base = Path(base_dir).resolve()
        if (base / f"{top}.py").is_file() or (base / top).is_dir():
            local = base
            _put_on_path(base)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            where = f" (looked next to the experiment file too, in {local or base_dir})" \
                if base_dir is not None else ""
            raise ConfigError(path, f"no module named {exc.name!r} for {reference!r}{where}: "
                                    f"install it, put it on PYTHONPATH, or put "
                                    f"{exc.name.replace('.', '/')}.py next to the experiment "
                                    f"file") from None
        raise ConfigError(path, f"importing module {name!r} failed: {exc}") from None
    except (Exception, SystemExit) as exc:
        raise ConfigError(path, f"importing module {name!r} failed: "
                                f"{type(exc).__name__}: {exc}") from None


def _same_file(a: str | None, b: Path) -> bool:
    return a is not None and Path(a).resolve() == b.resolve()


# ---------------------------------------------------------------------------------------------
# Plug-in algorithms: a class, an instance, or a factory taking hpotk's context and options


def check_plugin(obj: Any, bases: tuple[type, ...], path: str, reference: str,
                 what: str) -> None:
    """Refuse an object that is neither a ``bases`` class or instance nor a factory."""
    if isinstance(obj, bases) or (isinstance(obj, type) and issubclass(obj, bases)):
        return
    if callable(obj) and not isinstance(obj, type):
        return
    raise ConfigError(path, f"{reference!r} is {_described(obj)}, not {what}: give a subclass "
                            f"or instance of {' or '.join(b.__name__ for b in bases)}, or a "
                            f"factory(ctx, **options) that returns one")


def build_plugin(obj: Any, bases: tuple[type, ...], ctx: Any, options: dict[str, Any],
                 path: str, accept: tuple[type, ...] = ()) -> Any:
    """What a plug-in gives: an instance as it is (it takes no options), a class built with
    ``options``, a factory's result for ``(ctx, **options)``; refuses anything else, and
    anything the factory returns that is not a ``bases`` (or ``accept``) instance."""
    name = getattr(obj, "__name__", type(obj).__name__)
    if isinstance(obj, bases):
        if options:
            raise ConfigError(f"{path}.{sorted(options)[0]}", f"unknown option: {name} is an "
                                                              f"instance, built already")
        return obj
    try:
        built = obj(**options) if isinstance(obj, type) else obj(ctx, **options)
    except TypeError as exc:
        raise ConfigError(path, f"{name} cannot be built with options {options}: {exc}") from None
    if not isinstance(built, bases + accept):
        raise ConfigError(path, f"{name} returned {_described(built)}, not an instance of "
                                f"{' or '.join(b.__name__ for b in bases + accept)}")
    return built


def _described(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__name__}"
    return f"of type {type(obj).__name__}"


def refuse_multi_objective(registry: Registry, name: str, path: str, kind: str) -> None:
    """ConfigError unless registered ``name``'s module says ``MULTI_OBJECTIVE = True``: one line
    naming the ones that do. A plug-in is let through (it gets every objective in its context)."""
    if registry.is_plugin(name):
        return
    module = registry.module_of(name, path)
    if getattr(module, "MULTI_OBJECTIVE", False):
        return
    able = [n for n in registry.names()
            if getattr(registry.module_of(n, path), "MULTI_OBJECTIVE", False)]
    why = getattr(module, "SINGLE_OBJECTIVE_REASON", f"{kind} {name!r} optimises one metric")
    raise ConfigError(path, f"{why}, and metric lists several objectives; use a multi-objective "
                            f"{kind} ({', '.join(able) or 'none registered'}) or one metric")
