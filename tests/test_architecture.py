"""The layers of the code, checked on its source: imports point one way (workflow -> pipeline
-> studies -> train/report -> synth), only the pipeline layer and entry points write files,
nothing unpickles code, and functions stay small. Each check is also run on a small module
built to break it, so a check that passes is not one that cannot fail."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What each layer may import from this project (besides itself).
ALLOWED = {
    "synth": {"synth"},
    "dgl.train": {"dgl.train", "synth"},
    "dgl.report": {"dgl.report", "synth"},
    "dgl.studies": {"dgl.studies", "dgl.train", "dgl.report", "synth"},
    "dgl.pipeline": {"dgl.pipeline", "dgl.studies", "dgl.train", "dgl.report", "synth"},
    "dgl.perf": {"dgl.perf", "dgl.pipeline", "dgl.studies", "dgl.train", "dgl.report", "synth"},
}
#: Layers that read and write no file (the pipeline layer and the entry points do).
NO_FILES = ("synth", "dgl.train", "dgl.report", "dgl.studies")
#: Calls that write a file (by the name of the function or method called).
WRITERS = {"write_text", "write_bytes", "savez", "save", "savefig", "write_csv", "to_csv",
           "mkdir", "atomic_write", "dump"}


def modules() -> dict[str, ast.Module]:
    """Every module of the packages, by dotted name."""
    out = {}
    for package in ("synth", "dgl"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out[name] = ast.parse(path.read_text())
    return out


def layer(name: str) -> str | None:
    return next((key for key in ALLOWED if name == key or name.startswith(key + ".")), None)


def imported(tree: ast.Module) -> set[str]:
    """The project modules a module imports (at any depth of its code)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("dgl", "synth")}


def import_violations(name: str, tree: ast.Module) -> list[str]:
    own = layer(name)
    if own is None:  # dgl/__init__.py: the import-name guard
        return sorted(imported(tree))
    return [f"{name} imports {m}" for m in sorted(imported(tree))
            if layer(m) not in ALLOWED[own]]


def file_writes(tree: ast.Module) -> list[str]:
    """Calls that write files: a known writer, or open() in a writing mode."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called in WRITERS:
            out.append(f"line {node.lineno}: {called}()")
        if called == "open":
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [k.value.value for k in node.keywords
                      if k.arg == "mode" and isinstance(k.value, ast.Constant)]
            if any(set(str(m)) & set("wax+") for m in modes):
                out.append(f"line {node.lineno}: open(..., {modes[0]!r})")
    return out


def long_functions(tree: ast.Module, limit: int = 60) -> list[str]:
    """Functions longer than ``limit`` lines whose docstring does not say why."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit and "Long because" not in (ast.get_docstring(node) or ""):
                out.append(f"{node.name} ({length} lines)")
    return out


def test_imports_point_one_way():
    found = {name: import_violations(name, tree) for name, tree in modules().items()}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_import_check_catches_a_study_import_in_the_training_layer():
    tree = ast.parse("from dgl.studies.theory import gamma_table\nimport synth.law\n")
    assert import_violations("dgl.train.trainer", tree) == [
        "dgl.train.trainer imports dgl.studies.theory"]
    assert import_violations("dgl.studies.theory", tree) == []
    assert import_violations("synth.law", ast.parse("import dgl.train.models\n")) == [
        "synth.law imports dgl.train.models"]


def test_science_layers_write_no_files():
    found = {name: file_writes(tree) for name, tree in modules().items()
             if name.startswith(NO_FILES)}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_write_check_catches_writers():
    tree = ast.parse("open(p, 'w')\nopen(p)\nopen(p, mode='ab')\nfig.savefig(p)\n"
                     "torch.save(x, p)\nnp.load(p)\n")
    assert file_writes(tree) == ["line 1: open(..., 'w')", "line 3: open(..., 'ab')",
                                 "line 4: savefig()", "line 5: save()"]


def test_nothing_unpickles_code():
    """Every torch.load passes weights_only=True (nowhere False), in the code, the workflow
    and the tests."""
    paths = [p for d in ("dgl", "synth", "workflow", "tests") for p in (ROOT / d).rglob("*.py")]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" and \
                    getattr(node.func.value, "id", "") == "torch":
                kw = {k.arg: k.value for k in node.keywords}
                assert isinstance(kw.get("weights_only"), ast.Constant), (path, node.lineno)
                assert kw["weights_only"].value is True, (path, node.lineno)


def test_functions_are_small():
    found = {name: long_functions(tree) for name, tree in modules().items()}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_length_check_catches_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    assert long_functions(ast.parse(f"def f():\n{body}\n")) == ["f (71 lines)"]
    said = f'def g():\n    """Long because: one table per line."""\n{body}\n'
    assert long_functions(ast.parse(said)) == []


@pytest.mark.parametrize("name", ["synth", "dgl.train", "dgl.report", "dgl.studies",
                                  "dgl.pipeline", "dgl.perf"])
def test_every_layer_exists_and_is_documented(name):
    tree = modules()[name]
    assert ast.get_docstring(tree), f"{name}/__init__.py says what the layer holds"
