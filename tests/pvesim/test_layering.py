"""How pvesim's source is laid out: its modules import each other in layers (no import inside a
function, no import circle, route modules in pvesim/handlers only call downward into the
domain in pvesim/domain), and it reads no file by an absolute path of the machine."""

import ast
import os

from pvesim.domain import storage_config

PVESIM = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "pvesim")


def _modules():
    """``{module name: parsed source}`` of every pvesim module."""
    modules = {}
    for directory, _dirs, files in os.walk(PVESIM):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            parts = os.path.relpath(path, os.path.dirname(PVESIM))[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            with open(path, encoding="utf-8") as handle:
                modules[".".join(parts)] = ast.parse(handle.read(), path)
    return modules


def _imported(node, known):
    """The pvesim modules an import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "pvesim"]
    if node.level or not node.module or node.module.split(".")[0] != "pvesim":
        return []
    # ``from pvesim.x import y``: y is a module of its own, or a name in pvesim.x
    return [node.module + "." + alias.name if node.module + "." + alias.name in known else node.module
            for alias in node.names]


def _graph(modules):
    graph = {}
    for name, tree in modules.items():
        targets = set()
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(_imported(node, modules))
        graph[name] = targets - {name}
    return graph


def test_no_pvesim_import_inside_a_function():
    modules = _modules()
    found = []
    for name, tree in modules.items():
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and _imported(node, modules):
                    found.append("%s:%d %s" % (name, node.lineno, ast.unparse(node)))
    assert not found, "imports of pvesim inside functions:\n" + "\n".join(found)


def test_every_pvesim_import_is_at_module_level():
    # not hidden in a class body, an if or a try either
    modules = _modules()
    found = []
    for name, tree in modules.items():
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top and _imported(node, modules):
                found.append("%s:%d %s" % (name, node.lineno, ast.unparse(node)))
    assert not found, "\n".join(found)


def test_the_module_import_graph_has_no_cycle():
    graph = _graph(_modules())
    assert "pvesim.handlers.guest_config" in graph and "pvesim.domain.guests" in graph
    state = {}  # module -> "visiting" | "done"

    def visit(module, path):
        state[module] = "visiting"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "visiting":
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_routes_import_downward_only():
    graph = _graph(_modules())
    for module, targets in graph.items():
        if module.startswith("pvesim.handlers."):
            sideways = sorted(t for t in targets if t.startswith("pvesim.handlers") or t == "pvesim.registry")
            assert not sideways, "%s imports %s" % (module, sideways)
        if module.startswith("pvesim.domain"):
            upward = sorted(t for t in targets if t.split(".")[1] in (
                "handlers", "registry", "dispatch", "server", "scenario", "state_file", "testing", "__main__"))
            assert not upward, "%s imports %s" % (module, upward)


# Where a machine keeps files: pvesim's own data is found relative to the package instead.
# (Absolute paths of the simulated PVE host, /etc/pve/... or /var/lib/vz, are data, not files read.)
MACHINE_PREFIXES = ("/work/", "/usr/", "/home/", "/root/", "/tmp/", "/opt/", "/srv/")


def test_no_absolute_path_of_the_machine():
    found = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for line in node.value.splitlines() or [node.value]:
                    if any(word.startswith(MACHINE_PREFIXES) for word in line.split()):
                        found.append("%s:%d %r" % (name, node.lineno, line.strip()))
    assert not found, "\n".join(found)


def test_storage_types_come_from_the_package_data():
    assert storage_config.STORAGE_TYPES_FILE == os.path.join(PVESIM, "data", "storage-types.json")
    assert "dir" in storage_config.storage_types() and "options" in storage_config.storage_types()["dir"]
