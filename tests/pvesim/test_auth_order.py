"""Authentication details from review finding 10, each following pve-manager PVE/HTTPServer.pm
(auth_handler runs before the route lookup, check_user_enabled) and PVE/API2/Tasks.pm
(check_task_user)."""

import requests

from conftest import core_scenario
from helpers import api, api_error
from pvesim.routing import Identity
from pvesim.testing import make_sim, running


def _url(pve, path):
    return pve.urls["pve-a"] + "/api2/json" + path


def test_unknown_path_without_ticket_is_401_with_ticket_501(pve):
    answer = requests.get(_url(pve, "/no/such/thing"), verify=pve.ca_path)
    assert (answer.status_code, answer.reason) == (401, "No ticket")
    answer = requests.get(_url(pve, "/no/such/thing"), verify=pve.ca_path,
                          headers={"Authorization": "PVEAPIToken=root@pam!ci=root-ci-secret"})
    assert (answer.status_code, answer.reason) == (501, "Method 'GET /no/such/thing' not implemented")


def test_failed_login_answer_is_json_like_other_handler_errors(pve):
    # the 401 comes from create_ticket, through the JSON formatter: {"data": null}
    answer = requests.post(_url(pve, "/access/ticket"), data={"username": "alice@pve", "password": "wrong"},
                           verify=pve.ca_path)
    assert (answer.status_code, answer.reason) == (401, "authentication failure")
    assert answer.json() == {"data": None}
    # auth_handler's own 401s have no body
    assert requests.get(_url(pve, "/version"), verify=pve.ca_path).content == b""


def test_ticket_stops_working_when_its_user_is_disabled_or_expired():
    with running(core_scenario()) as pve:
        login = requests.post(_url(pve, "/access/ticket"), data={"username": "alice@pve", "password": "alicepw"},
                              verify=pve.ca_path).json()["data"]
        cookies = {"PVEAuthCookie": login["ticket"]}
        assert requests.get(_url(pve, "/version"), cookies=cookies, verify=pve.ca_path).status_code == 200
        users = pve.sim.hosts["pve-a"].fs.users
        users["alice@pve"]["enable"] = 0
        answer = requests.get(_url(pve, "/version"), cookies=cookies, verify=pve.ca_path)
        assert (answer.status_code, answer.reason) == (401, "user 'alice@pve' is disabled")
        users["alice@pve"]["enable"] = 1
        users["alice@pve"]["expire"] = 1000
        answer = requests.get(_url(pve, "/version"), cookies=cookies, verify=pve.ca_path)
        assert (answer.status_code, answer.reason) == (401, "user 'alice@pve' access expired")


def test_a_token_owns_only_its_own_tasks_a_user_owns_its_tokens_tasks():
    # check_task_user: "token only sees token tasks, user sees user + token tasks"
    sim = make_sim({"resources": [{"type": "node", "node": "pve1"}], "root_password": "pw"})
    host = sim.hosts["pve1"]
    by_user = sim.start_task(host, "test", "", "bob@pve", 0)
    by_token = sim.start_task(host, "test", "", "bob@pve!ci", 0)
    token, user = Identity("bob@pve", tokenid="ci"), Identity("bob@pve")  # bob: no Sys.Audit

    def visible(identity):
        return {t["upid"] for t in api(sim, "pve1", "GET", "/nodes/pve1/tasks", identity=identity)}

    assert visible(token) == {by_token}
    assert visible(user) == {by_user, by_token}
    assert api_error(api, sim, "pve1", "GET", "/nodes/pve1/tasks/%s/status" % by_user, identity=token).status == 403
    assert api(sim, "pve1", "GET", "/nodes/pve1/tasks/%s/status" % by_token, identity=user)["status"] == "stopped"
