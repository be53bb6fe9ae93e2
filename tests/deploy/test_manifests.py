# SPDX-License-Identifier: MIT
"""The structural check of deploy/ catches what it is for: each mutation of
the shipped manifests below is a mistake it must report, and the shipped
files themselves pass."""
import copy
import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(__file__))
import check_manifests as cm  # noqa: E402


def load():
    with open(cm.MANIFEST) as f:
        docs = list(yaml.safe_load_all(f))
    with open(cm.CONF) as f:
        return docs, f.read()


def daemonset(docs):
    return [d for d in docs if d["kind"] == "DaemonSet"][0]


def container(docs):
    return daemonset(docs)["spec"]["template"]["spec"]["containers"][0]


def test_shipped_manifests_are_clean():
    docs, conf = load()
    assert cm.check(docs, conf) == []
    with open(cm.DOCKERFILE) as f:
        assert cm.check_dockerfile(f.read()) == []


def set_privileged(d):
    container(d)["securityContext"]["privileged"] = True


def add_sys_admin(d):
    container(d)["securityContext"]["capabilities"]["add"].append("SYS_ADMIN")


def drop_ptrace(d):
    container(d)["securityContext"]["capabilities"]["add"].remove("SYS_PTRACE")


def no_host_pid(d):
    del daemonset(d)["spec"]["template"]["spec"]["hostPID"]


def selector_mismatch(d):
    daemonset(d)["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "other"


def wrong_service_account(d):
    daemonset(d)["spec"]["template"]["spec"]["serviceAccountName"] = "default"


def probe_wrong_port(d):
    container(d)["livenessProbe"]["httpGet"]["port"] = 8080


def request_above_limit(d):
    container(d)["resources"]["requests"]["memory"] = "1Gi"


def btf_writable(d):
    for m in container(d)["volumeMounts"]:
        if m["mountPath"] == "/sys/kernel/btf":
            m["readOnly"] = False


def mount_without_volume(d):
    container(d)["volumeMounts"].append({"name": "nowhere", "mountPath": "/x"})


def loopback_metrics(d):
    cmap = [x for x in d if x["kind"] == "ConfigMap"][0]
    cmap["data"]["agent.conf"] = cmap["data"]["agent.conf"].replace("0.0.0.0:9433", "127.0.0.1:9433")


def wrong_api_version(d):
    daemonset(d)["apiVersion"] = "extensions/v1beta1"


def store_not_host_path(d):
    vols = daemonset(d)["spec"]["template"]["spec"]["volumes"]
    for v in vols:
        if v["name"] == "store":
            v.pop("hostPath")
            v["emptyDir"] = {}


def metrics_open_to_all(d):
    policy = [x for x in d if x["kind"] == "NetworkPolicy"][0]
    policy["spec"]["ingress"][0].pop("from")


def no_network_policy(d):
    d[:] = [x for x in d if x["kind"] != "NetworkPolicy"]


MUTATIONS = [metrics_open_to_all, no_network_policy, set_privileged, add_sys_admin, drop_ptrace, no_host_pid, selector_mismatch,
             wrong_service_account, probe_wrong_port, request_above_limit, btf_writable,
             mount_without_volume, loopback_metrics, wrong_api_version, store_not_host_path]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
def test_mistake_is_reported(mutate):
    docs, conf = load()
    bad = copy.deepcopy(docs)
    mutate(bad)
    problems = cm.check(bad, conf)
    assert problems, "%s: not reported" % mutate.__name__


def test_compiler_in_final_image_is_reported():
    with open(cm.DOCKERFILE) as f:
        text = f.read()
    assert cm.check_dockerfile(text + "RUN apt-get install -y gcc\n")
