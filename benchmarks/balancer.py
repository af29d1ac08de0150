#!/usr/bin/env python3
"""The balancer's planner on a scenario file, or on every generated family next to the greedy baseline.

    .venv/bin/python benchmarks/balancer.py SCENARIO.json [--mode used|assigned] [--option KEY=JSON ...] [--json]
    .venv/bin/python benchmarks/balancer.py --families [--sizes 3x30,8x300] [--variants base,rules] [--exact] [--json]

One scenario: a readable report, or with ``--json`` one JSON object whose ``plan`` lists
the moves ({vmid, type, source, target, wave, reason, ...}) next to the metrics of
shared/scenarios/FORMAT.md.  ``--families``: every family of scenario_families.py in both
modes, the planner and the greedy baseline side by side, both measured by the library's
one metrics function.  ``--exact`` adds, for the small families, the memory spread an
exact solver (OR-tools CP-SAT, when importable) reaches with the same number of
migrations as the planner, and with any number.
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
        lines.append("  %-5s %6d %-14s %s -> %s  %6.1f GiB  %s%s" % (move["type"], move["vmid"], move["name"][:14], move["source"],
                                                                  move["target"], move["mem"] / 2 ** 30, move["reason"],
                                                                  " (restart)" if move["restart"] else ""))
    if not result["moves"]:
        lines.append("no moves")
    for item in result["unplaced"]:
        lines.append("cannot move %d from %s: %s" % (item["vmid"], item["node"], item["reason"]))
    for item in result["problems"]:
        lines.append("rule problem: %s %s: %s" % (item["rule"], item["vmids"], item["reason"]))
    lines.append("%-10s %-12s %18s %18s" % ("node", "status", "mem before->after", "cpu before->after"))
    for node, before in result["nodes_before"].items():
        after = result["nodes_after"][node]
        lines.append("%-10s %-12s %8.1f%% -> %5.1f%% %8.1f%% -> %5.1f%%" % (node, before["status"], 100 * before["mem_util"],
                                                                         100 * after["mem_util"], 100 * before["cpu_util"], 100 * after["cpu_util"]))
    m = result["metrics"]
    lines.append("mem spread %.2f -> %.2f pp, cpu spread %.2f -> %.2f pp, mem stdev %.2f pp, %d migrations (%.1f GiB) in %d waves, "
                 "violations %d -> %d, planned in %.3f s" % (100 * m["before"]["mem_spread"], 100 * m["mem_spread"], 100 * m["before"]["cpu_spread"],
                                                            100 * m["cpu_spread"], 100 * m["mem_stdev"], m["migrations"], m["moved_mem_bytes"] / 2 ** 30,
                                                            m["waves"], m["before"]["violations"], m["violations"], m["plan_seconds"]))
    for item in m["violation_list"]:
        lines.append("violation: %s" % json.dumps(item))
    return "\n".join(lines)


def exact_spread(scenario, options, budget, hint=None, seconds=20.0):
    """(spread, status) of the best memory spread CP-SAT finds with at most ``budget`` migrations, or None without OR-tools.

    Same rules and memory limit as the planner (final state only, so a lower bound on
    what a safely ordered plan can reach); CPU is left out.
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
            options_ = [home] if home >= 0 else []
        else:
            options_ = [i for i in active if unit.allowed is None or i in unit.allowed]
        if not options_:
            continue
        variables = {i: cp.NewBoolVar("u%d_%d" % (unit.uid, i)) for i in options_}
        cp.AddExactlyOne(variables.values())
        place[unit.uid] = variables
        if home in variables:
            moved_terms.append(len(unit.members) * (1 - variables[home]))
        else:
            moved_terms.append(len(unit.members))
        if hint is not None:
            target = hint.get(unit.uid)
            for i, variable in variables.items():
                cp.AddHint(variable, i == target)
    if budget is not None:
        cp.Add(sum(moved_terms) <= budget)
    for _label, vmids in rule_set.anti_groups:
        uids = sorted({rule_set.unit_of[vmid] for vmid in vmids} & set(place))
        for i in active:
            members = [place[uid][i] for uid in uids if i in place[uid]]
            if len(members) > 1:
                cp.Add(sum(members) <= 1)
    fixed_mem = {i: model.nodes[i].base_mem for i in range(len(model.nodes))}
    fixed_claim = {i: model.nodes[i].base_claim for i in range(len(model.nodes))}
    for unit in rule_set.units:
        if unit.uid not in place:
            for guest in unit.members:
                fixed_mem[model.node_index[guest.node]] += guest.load_mem
                fixed_claim[model.node_index[guest.node]] += guest.claim
    utils = []
    for i in active:
        node = model.nodes[i]
        units_here = [(unit, place[unit.uid][i]) for unit in rule_set.units if unit.uid in place and i in place[unit.uid]]
        claim = sum(unit.claim * variable for unit, variable in units_here)
        start_claim = fixed_claim[i] + sum(unit.claim for unit in rule_set.units if unit.uid in place
                                           and all(model.node_index[g.node] == i for g in unit.members))
        cp.Add(claim <= max(node.limit, start_claim) - fixed_claim[i])
        util = cp.NewIntVar(-10 * scale, 10 * scale, "util%d" % i)
        cp.Add(util == round(scale * fixed_mem[i] / node.maxmem)
               + sum(round(scale * unit.mem / node.maxmem) * variable for unit, variable in units_here))
        utils.append(util)
    high, low = cp.NewIntVar(-10 * scale, 10 * scale, "high"), cp.NewIntVar(-10 * scale, 10 * scale, "low")
    cp.AddMaxEquality(high, utils)
    cp.AddMinEquality(low, utils)
    cp.Minimize(high - low)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    status = solver.Solve(cp)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return (None, solver.StatusName(status))
    return (solver.ObjectiveValue() / scale, solver.StatusName(status))


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
            row["greedy"]["seconds"] = greedy_seconds
            if args.exact and name.split("-")[0] in EXACT_SIZES:
                model = scenario_mod.load(scenario, options)
                rule_set = rules.Rules(model)
                final = {move["vmid"]: move["target"] for move in ours["moves"]}
                hint = {}
                for unit in rule_set.units:
                    node = final.get(unit.members[0].vmid, unit.members[0].node)
                    hint[unit.uid] = model.node_index[node]
                budget = ours["metrics"]["migrations"]
                row["exact_same_budget"] = exact_spread(scenario, options, budget, hint, args.exact_seconds)
                row["exact_any"] = exact_spread(scenario, options, None, hint, args.exact_seconds)
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
    text = "%-18s %-8s before %5.1f | ours %5.2f pp %4d mig %2d viol %6.3f s (cpu %5.2f) | greedy %5.2f pp %4d mig %3d viol %6.3f s (cpu %5.2f)" % (
        row["family"], row["mode"], 100 * row["before"]["mem_spread"],
        100 * ours["mem_spread"], ours["migrations"], ours["violations"], ours["seconds"], 100 * ours["cpu_spread"],
        100 * greedy["mem_spread"], greedy["migrations"], greedy["violations"], greedy["seconds"], 100 * greedy["cpu_spread"])
    for key, label in (("exact_same_budget", "exact same mig"), ("exact_any", "exact any")):
        if key in row:
            value = row[key]
            text += " | %s %s" % (label, "n/a (no OR-tools)" if value is None else
                                  ("%5.2f pp %s" % (100 * value[0], value[1]) if value[0] is not None else value[1]))
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
