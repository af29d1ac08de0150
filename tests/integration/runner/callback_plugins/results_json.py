"""A stdout callback for the test runner: every task result as one JSON document.

ansible-core no longer ships a JSON callback (it lives in ansible.posix, which the runner
does not install), so this small one prints ``{"plays": [{"tasks": [...]}], "stats": {...}}``
in the shape the json callback has, from the results Ansible gives callbacks (already
censored for ``no_log``).
"""

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: results_json
type: stdout
short_description: task results as JSON, for the integration test runner
description: Prints all task results as one JSON document at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "results_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _record(self, result, **flags):
        task = result._task
        data = dict(result._result)
        data.update(flags)
        tasks = self.plays[-1]["tasks"] if self.plays else []
        if not tasks or tasks[-1]["task"]["uuid"] != task._uuid or result._host.get_name() in tasks[-1]["hosts"]:
            tasks.append({"task": {"name": task.get_name(), "uuid": task._uuid}, "hosts": {}})
        tasks[-1]["hosts"][result._host.get_name()] = data

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary}, default=str, indent=1))
