#!/usr/bin/env python3
"""The balancer's planner on a scenario file, or on every generated family next to the greedy baseline.

    .venv/bin/python benchmarks/balancer.py SCENARIO.json [--mode used|assigned] [--option KEY=JSON ...] [--json]
    .venv/bin/python benchmarks/balancer.py --families [--sizes 3x30,8x300] [--variants base,rules] [--exact] [--json]

One scenario: a readable report, or with ``--json`` one JSON object whose ``plan`` lists
the moves ({vmid, type, source, target, wave, reason, ...}) next to the metrics of
shared/scenarios/FORMAT.md.  ``--families``: every family of scenario_families.py in both
modes, the planner and the greedy baseline side by side, both measured by the library's
one metrics function.  ``--exact`` adds, for the small families, what an exact solver
(OR-tools CP-SAT, when importable) finds: the lowest memory spread with the planner's
number of migrations and a CPU spread no worse than the planner's (or the CPU
threshold), the fewest migrations that balance memory and CPU to the thresholds, and
the fewest that balance memory alone (the greedy's goal).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The library uses only relative imports, so its folder can be imported as it is.
sys.path.insert(0, os.path.join(HERE, "..", "plugins", "module_utils"))
sys.path.insert(0, HERE)

from _scheduler import metrics, planner, rules, scenario as scenario_mod  # noqa: E402  (after the path)

EXACT_SIZES = ("3x30", "8x300")


def parse_options(pairs):
    options = {}
    for pair in pairs or []:
        key, _sep, value = pair.partition("=")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def report(result, name):
    """The plan as text: moves by wave, nodes before and after, metrics."""
    lines = ["%s: mode %s, memory basis %s, limit %d %% of memory" % (name, result["mode"], result["memory_basis"],
                                                                      round(result["mem_limit"] * 100))]
    wave = None
    for move in result["moves"]:
        if move["wave"] != wave:
            wave = move["wave"]
            lines.append("wave %d" % wave)
        restart = " (restart)" if move["restart"] else ""
        lines.append("  %-5s %6d %-14s %s -> %s  %6.1f GiB  %s%s" % (
            move["type"], move["vmid"], move["name"][:14], move["source"], move["target"], move["mem"] / 2 ** 30, move["reason"], restart))
    if not result["moves"]:
        lines.append("no moves")
    for item in result["unplaced"]:
        lines.append("cannot move %d from %s: %s" % (item["vmid"], item["node"], item["reason"]))
    for item in result["problems"]:
        lines.append("rule problem: %s %s: %s" % (item["rule"], item["vmids"], item["reason"]))
    lines.append("%-10s %-12s %18s %18s" % ("node", "status", "mem before->after", "cpu before->after"))
    for node, before in result["nodes_before"].items():
        after = result["nodes_after"][node]
        lines.append("%-10s %-12s %8.1f%% -> %5.1f%% %8.1f%% -> %5.1f%%" % (
            node, before["status"], 100 * before["mem_util"], 100 * after["mem_util"], 100 * before["cpu_util"], 100 * after["cpu_util"]))
    m = result["metrics"]
    lines.append("mem spread %.2f -> %.2f pp, cpu spread %.2f -> %.2f pp, mem stdev %.2f pp, %d migrations (%.1f GiB) in %d waves, "
                 "violations %d -> %d, planned in %.3f s" % (
                     100 * m["before"]["mem_spread"], 100 * m["mem_spread"], 100 * m["before"]["cpu_spread"], 100 * m["cpu_spread"],
                     100 * m["mem_stdev"], m["migrations"], m["moved_mem_bytes"] / 2 ** 30, m["waves"], m["before"]["violations"],
                     m["violations"], m["plan_seconds"]))
    for item in m["violation_list"]:
        lines.append("violation: %s" % json.dumps(item))
    return "\n".join(lines)


def exact(scenario, options, budget=None, cpu_cap=None, mem_cap=None, hint=None, seconds=20.0):
    """What OR-tools CP-SAT finds for the same rules and memory limit, or None when it is not importable.

    With ``mem_cap`` None: the lowest memory spread with at most ``budget`` migrations and a
    CPU spread of at most ``cpu_cap``.  With ``mem_cap``: the fewest migrations that bring
    the memory spread to ``mem_cap`` (and CPU to ``cpu_cap``).  Returns (value, status),
    value None when nothing was found.  Only the final state is checked, not the order of
    the moves, so this is a bound a safely ordered plan cannot beat.
    """
    try:
        from ortools.sat.python import cp_model  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    model = scenario_mod.load(scenario, options)
    rule_set = rules.Rules(model)
    active = [node.index for node in model.nodes if node.active]
    cp = cp_model.CpModel()
    scale = 1_000_000
    place = {}
    moved_terms = []
    for unit in rule_set.units:
        homes = {model.node_index[guest.node] for guest in unit.members}
        home = next(iter(homes)) if len(homes) == 1 else -1
        if unit.fixed or (unit.allowed is not None and not unit.allowed):
            choices = [home] if home >= 0 else []
        else:
            choices = [i for i in active if unit.allowed is None or i in unit.allowed]
        if not choices:
            continue
        variables = {i: cp.NewBoolVar("u%d_%d" % (unit.uid, i)) for i in choices}
        cp.AddExactlyOne(variables.values())
        place[unit.uid] = variables
        for guest in unit.members:      # a guest migrates unless its unit ends on the guest's node
            where = model.node_index[guest.node]
            moved_terms.append(1 - variables[where] if where in variables else 1)
        if hint is not None:
            for i, variable in variables.items():
                cp.AddHint(variable, i == hint.get(unit.uid))
    migrations = sum(moved_terms)
    if budget is not None:
        cp.Add(migrations <= budget)
    for _label, vmids in rule_set.anti_groups:
        uids = sorted({rule_set.unit_of[vmid] for vmid in vmids} & set(place))
        for i in active:
            members = [place[uid][i] for uid in uids if i in place[uid]]
            if len(members) > 1:
                cp.Add(sum(members) <= 1)
    fixed = {i: [model.nodes[i].base_mem, model.nodes[i].base_cpu, model.nodes[i].base_claim] for i in range(len(model.nodes))}
    for unit in rule_set.units:
        if unit.uid not in place:
            for guest in unit.members:
                entry = fixed[model.node_index[guest.node]]
                entry[0] += guest.load_mem
                entry[1] += guest.load_cpu
                entry[2] += guest.claim
    mem_utils, cpu_utils = [], []
    for i in active:
        node = model.nodes[i]
        here = [(unit, place[unit.uid][i]) for unit in rule_set.units if unit.uid in place and i in place[unit.uid]]
        start_claim = fixed[i][2] + sum(unit.claim for unit in rule_set.units if unit.uid in place
                                        and all(model.node_index[g.node] == i for g in unit.members))
        cp.Add(sum(unit.claim * variable for unit, variable in here) <= max(node.limit, start_claim) - fixed[i][2])
        for utils, column, capacity, attribute in ((mem_utils, 0, node.maxmem, "mem"), (cpu_utils, 1, node.maxcpu, "cpu")):
            util = cp.NewIntVar(-100 * scale, 100 * scale, "")
            cp.Add(util == round(scale * fixed[i][column] / capacity)
                   + sum(round(scale * getattr(unit, attribute) / capacity) * variable for unit, variable in here))
            utils.append(util)
    spreads = []
    for utils in (mem_utils, cpu_utils):
        high, low = cp.NewIntVar(-100 * scale, 100 * scale, ""), cp.NewIntVar(-100 * scale, 100 * scale, "")
        cp.AddMaxEquality(high, utils)
        cp.AddMinEquality(low, utils)
        spreads.append(high - low)
    if cpu_cap is not None:
        cp.Add(spreads[1] <= int(cpu_cap * scale))
    if mem_cap is None:
        cp.Minimize(spreads[0])
    else:
        cp.Add(spreads[0] <= int(mem_cap * scale))
        cp.Minimize(migrations)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    status = solver.Solve(cp)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return (None, solver.StatusName(status))
    value = solver.ObjectiveValue()
    return (value / scale if mem_cap is None else int(value), solver.StatusName(status))


def run_families(args):
    import scenario_families  # pylint: disable=import-outside-toplevel
    import greedy_baseline  # pylint: disable=import-outside-toplevel
    rows = []
    sizes = args.sizes.split(",") if args.sizes else None
    variants = args.variants.split(",") if args.variants else None
    for name, scenario in scenario_families.families(sizes, variants, args.seed):
        for mode in ("used", "assigned"):
            options = dict(parse_options(args.option), mode=mode)
            ours = planner.plan(scenario, options)
            started = time.perf_counter()
            moves = greedy_baseline.greedy_plan(scenario, mode=mode, threshold=ours["options"]["threshold"],
                                                mem_limit=ours["options"]["mem_limit"])
            greedy_seconds = time.perf_counter() - started
            theirs = metrics.evaluate(scenario, moves, options)
            row = {"family": name, "mode": mode, "ours": _short(ours["metrics"]), "greedy": _short(theirs),
                   "before": _short(ours["metrics"]["before"]), "unplaced": len(ours["unplaced"])}
            row["ours"]["seconds"] = ours["metrics"]["plan_seconds"]
            row["ours"]["fixes"] = sum(1 for move in ours["moves"] if not move["reason"].startswith("balance"))
            row["ours"]["strategy"] = ours["strategy"]
            row["greedy"]["seconds"] = greedy_seconds
            if args.exact and name.split("-")[0] in EXACT_SIZES:
                model = scenario_mod.load(scenario, options)
                rule_set = rules.Rules(model)
                final = {move["vmid"]: move["target"] for move in ours["moves"]}
                hint = {unit.uid: model.node_index[final.get(unit.members[0].vmid, unit.members[0].node)] for unit in rule_set.units}
                limits = ours["options"]
                cpu_cap = max(limits["cpu_threshold"], ours["metrics"]["cpu_spread"]) if limits["cpu_weight"] else None
                # The lowest memory spread with our migrations and a CPU spread no worse than ours (or the threshold).
                row["exact_spread"] = exact(scenario, options, ours["metrics"]["migrations"], cpu_cap, None, hint, args.exact_seconds)
                # The fewest migrations that balance memory and CPU to the thresholds; and memory alone (the greedy's goal).
                row["exact_min_mig"] = exact(scenario, options, None, limits["cpu_threshold"] if limits["cpu_weight"] else None,
                                             limits["threshold"], None, args.exact_seconds)
                row["exact_min_mig_mem"] = exact(scenario, options, None, None, limits["threshold"], None, args.exact_seconds)
            rows.append(row)
            if not args.json:
                print(_row_text(row), flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    return rows


def _short(result):
    keys = ("mem_spread", "cpu_spread", "mem_stdev", "cpu_stdev", "migrations", "moved_mem_bytes", "violations")
    return {key: result[key] for key in keys if key in result}


def _row_text(row):
    ours, greedy = row["ours"], row["greedy"]
    text = "%-18s %-8s before %5.1f | ours %5.2f pp %4d mig (%4d fix) %2d viol %6.3f s (cpu %5.2f) | greedy %5.2f pp %4d mig %3d viol %6.3f s (cpu %5.2f)" % (
        row["family"], row["mode"], 100 * row["before"]["mem_spread"],
        100 * ours["mem_spread"], ours["migrations"], ours["fixes"], ours["violations"], ours["seconds"], 100 * ours["cpu_spread"],
        100 * greedy["mem_spread"], greedy["migrations"], greedy["violations"], greedy["seconds"], 100 * greedy["cpu_spread"])
    for key, label, unit in (("exact_spread", "exact same mig", "pp"), ("exact_min_mig", "exact min mig", ""),
                             ("exact_min_mig_mem", "mem only", "")):
        if key in row:
            value = row[key]
            if value is None:
                text += " | %s n/a (no OR-tools)" % label
            elif value[0] is None:
                text += " | %s %s" % (label, value[1])
            else:
                shown = "%5.2f" % (100 * value[0]) if unit else "%4d" % value[0]
                text += " | %s %s%s %s" % (label, shown, " " + unit if unit else "", value[1][:4])
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?")
    parser.add_argument("--mode", choices=("used", "assigned"))
    parser.add_argument("--option", action="append", metavar="KEY=JSON", help="a planner option (repeatable)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--families", action="store_true", help="run every generated family in both modes")
    parser.add_argument("--sizes", help="with --families: e.g. 3x30,8x300")
    parser.add_argument("--variants", help="with --families: e.g. base,rules")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--exact", action="store_true", help="with --families: CP-SAT on the small families (needs ortools)")
    parser.add_argument("--exact-seconds", type=float, default=20.0)
    args = parser.parse_args()
    if args.families:
        run_families(args)
        return 0
    if not args.scenario:
        parser.error("give a scenario file or --families")
    with open(args.scenario, encoding="utf-8") as handle:
        scenario = json.load(handle)
    options = parse_options(args.option)
    if args.mode:
        options["mode"] = args.mode
    result = planner.plan(scenario, options)
    if args.json:
        output = dict(result)
        output["plan"] = output.pop("moves")
        output.update({key: value for key, value in result["metrics"].items() if key not in ("violation_list", "before")})
        json.dump(output, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(report(result, scenario.get("name") or os.path.basename(args.scenario)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
