"""``handoff simulate``: many simulated visitors (and agents) against a real server.

- :mod:`.scenario`: the scenario file's models (``load_scenario``);
- :mod:`.workload`: conversations from a scenario or a question set, arrival processes;
- :mod:`.visitor` / :mod:`.agents`: the simulated visitor and the agents' side, over the
  real protocol;
- :mod:`.engine`: the load generator (``run_simulation``), also used by ``benchmarks/``;
- :mod:`.expectations`, :mod:`.report`, :mod:`.render`: checking, the report, its text;
- :mod:`.progress`: live progress; :mod:`.servers`: servers started for ``--policy``;
- :mod:`.command`: the typer command.

The names below are loaded on first use (PEP 562): the engine reaches the server's
client and gateway, which pull in scikit-learn, and ``handoff`` imports :mod:`.command`
(so this package) every time it starts.
"""

from typing import TYPE_CHECKING

from handoff_server.lazy import lazy_names

if TYPE_CHECKING:
    from handoff_cli.simulate.engine import Plan, RunResult, run_simulation
    from handoff_cli.simulate.report import build_report
    from handoff_cli.simulate.scenario import AgentSpec, Scenario, load_scenario
    from handoff_cli.simulate.workload import question_scripts, scenario_scripts

__all__ = [
    "AgentSpec",
    "Plan",
    "RunResult",
    "Scenario",
    "build_report",
    "load_scenario",
    "question_scripts",
    "run_simulation",
    "scenario_scripts",
]

_LAZY = {
    "AgentSpec": ".scenario",
    "Plan": ".engine",
    "RunResult": ".engine",
    "Scenario": ".scenario",
    "build_report": ".report",
    "load_scenario": ".scenario",
    "question_scripts": ".workload",
    "run_simulation": ".engine",
    "scenario_scripts": ".workload",
}
"""The submodule (of this package) that defines each name loaded on first use."""


__getattr__ = lazy_names(__name__, _LAZY)
