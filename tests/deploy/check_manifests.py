#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Structural check of deploy/: the Kubernetes objects leakbpf ships are
well-formed and agree with each other and with the agent.

kubectl validates only against a live API server (there is none here), so
this checks the fields the manifests use: kinds and API versions, names and
references (ServiceAccount, ConfigMap, volumes, named ports), selectors
against template labels, hostPID, the least-privilege security context,
resources (requests within limits), probes on the metrics port, read-only
mounts of /sys/kernel/btf and /sys/kernel/tracing, a hostPath for the store
where the config puts it; the ConfigMap's agent.conf is deploy's agent.conf
and `leakbpf agent --config ... --check-config` accepts it; the Dockerfile's
final stage carries no compiler.

Usage: check_manifests.py LEAKBPF_BINARY   (exit 0: clean; 1: problems listed)
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "leakbpf.yaml")
PATCH = os.path.join(ROOT, "deploy", "kubernetes", "privileged-patch.yaml")
CONF = os.path.join(ROOT, "deploy", "kubernetes", "agent.conf")
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")

API = {"Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "DaemonSet": "apps/v1",
       "NetworkPolicy": "networking.k8s.io/v1"}
ALLOWED_CAPS = {"BPF", "PERFMON", "SYS_PTRACE"}
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|Ki|Mi|Gi|k|M|G)?$")
UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024 ** 2,
         "Gi": 1024 ** 3}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def quantity(v):
    m = QUANTITY.match(str(v))
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def conf_options(text):
    """{name: value} of an agent.conf."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"\s*=\s*|\s+", line, maxsplit=1)
        out[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return out


def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def check_network_policy(np, pod_labels, ports, metrics_port):
    """The metrics name every pod and source path of the node: only the
    scrapers the policy names may reach them, on the metrics port only."""
    problems = []
    spec = np.get("spec") or {}
    sel = get(spec, "podSelector", "matchLabels") or {}
    if not sel or any(pod_labels.get(k) != v for k, v in sel.items()):
        problems.append("NetworkPolicy podSelector %r does not select the agent's pods %r"
                        % (sel, pod_labels))
    if "Ingress" not in (spec.get("policyTypes") or []):
        problems.append("NetworkPolicy: policyTypes must include Ingress")
    rules = spec.get("ingress")
    if not rules:
        problems.append("NetworkPolicy: no ingress rule, so no scraper can reach /metrics")
    for rule in rules or []:
        if not rule.get("from"):
            problems.append("NetworkPolicy: an ingress rule without 'from' lets everyone scrape")
        for peer in rule.get("from") or []:
            if not peer.get("namespaceSelector") and not peer.get("podSelector"):
                problems.append("NetworkPolicy: a peer %r selects no pods: anyone may scrape" % peer)
            if peer.get("namespaceSelector") == {} or peer.get("ipBlock", {}).get("cidr") in (
                    "0.0.0.0/0", "::/0"):
                problems.append("NetworkPolicy: a peer %r matches every namespace or address" % peer)
        rports = rule.get("ports") or []
        numbers = [ports.get(p.get("port")) if isinstance(p.get("port"), str) else p.get("port")
                   for p in rports]
        if not rports or any(n != metrics_port for n in numbers):
            problems.append("NetworkPolicy: ingress ports %r, only the metrics port %r"
                            % (numbers, metrics_port))
    return problems


def check(docs, conf_text):
    """Problems (strings) found in the parsed manifest documents."""
    problems = []
    by_kind = {}
    namespace = None
    for i, doc in enumerate(docs):
        where = "document %d" % (i + 1)
        if not isinstance(doc, dict):
            problems.append("%s: not a mapping" % where)
            continue
        kind, api, name = doc.get("kind"), doc.get("apiVersion"), get(doc, "metadata", "name")
        if kind not in API:
            problems.append("%s: unexpected kind %r" % (where, kind))
            continue
        if api != API[kind]:
            problems.append("%s %s: apiVersion %r, expected %r" % (kind, name, api, API[kind]))
        if not name or not DNS_LABEL.match(str(name)):
            problems.append("%s: metadata.name %r is not a DNS label" % (kind, name))
        by_kind.setdefault(kind, []).append(doc)
        if kind == "Namespace":
            namespace = name
    for kind in API:
        if len(by_kind.get(kind, [])) != 1:
            problems.append("expected exactly one %s, found %d" % (kind, len(by_kind.get(kind, []))))
    if problems:
        return problems
    for kind in ("ServiceAccount", "ConfigMap", "DaemonSet", "NetworkPolicy"):
        ns = get(by_kind[kind][0], "metadata", "namespace")
        if ns != namespace:
            problems.append("%s in namespace %r, not the manifest's %r" % (kind, ns, namespace))

    sa = by_kind["ServiceAccount"][0]["metadata"]["name"]
    cm = by_kind["ConfigMap"][0]
    ds = by_kind["DaemonSet"][0]
    data = cm.get("data") or {}
    if data.get("agent.conf") != conf_text:
        problems.append("ConfigMap agent.conf differs from deploy/kubernetes/agent.conf")
    opts = conf_options(data.get("agent.conf") or "")

    spec = ds.get("spec") or {}
    selector = get(spec, "selector", "matchLabels") or {}
    labels = get(spec, "template", "metadata", "labels") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append("DaemonSet selector %r does not match the template labels %r"
                        % (selector, labels))
    pod = get(spec, "template", "spec") or {}
    if pod.get("serviceAccountName") != sa:
        problems.append("pod serviceAccountName %r is not the ServiceAccount %r"
                        % (pod.get("serviceAccountName"), sa))
    if pod.get("hostPID") is not True:
        problems.append("hostPID must be true: the agent sees the node's processes")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        problems.append("expected one container, found %d" % len(containers))
        return problems
    c = containers[0]
    for key in ("name", "image"):
        if not c.get(key):
            problems.append("container without %s" % key)
    sc = c.get("securityContext") or {}
    if sc.get("privileged"):
        problems.append("privileged: true in the least-privilege manifest")
    caps = set(get(sc, "capabilities", "add") or [])
    if caps - ALLOWED_CAPS:
        problems.append("capabilities beyond %s: %s" % (sorted(ALLOWED_CAPS), sorted(caps - ALLOWED_CAPS)))
    if caps != ALLOWED_CAPS:
        problems.append("capabilities %s, the agent needs %s" % (sorted(caps), sorted(ALLOWED_CAPS)))
    if get(sc, "capabilities", "drop") != ["ALL"]:
        problems.append("capabilities.drop should be [ALL]")

    res = c.get("resources") or {}
    for what in ("cpu", "memory"):
        req, lim = get(res, "requests", what), get(res, "limits", what)
        if req is None or lim is None:
            problems.append("resources: %s request and limit both needed" % what)
        elif quantity(req) is None or quantity(lim) is None:
            problems.append("resources: bad %s quantity %r / %r" % (what, req, lim))
        elif quantity(req) > quantity(lim):
            problems.append("resources: %s request %s above the limit %s" % (what, req, lim))

    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    metrics_addr = opts.get("metrics-addr", "")
    metrics_port = int(metrics_addr.rsplit(":", 1)[1]) if ":" in metrics_addr else None
    if metrics_addr.startswith("127.") or metrics_addr.startswith("[::1]"):
        problems.append("metrics-addr %r: loopback, the kubelet's probes cannot reach it"
                        % metrics_addr)
    for probe in ("livenessProbe", "readinessProbe"):
        port = get(c, probe, "httpGet", "port")
        if port is None:
            problems.append("%s: an httpGet probe on the metrics endpoint is needed" % probe)
            continue
        number = ports.get(port) if isinstance(port, str) else port
        if number != metrics_port:
            problems.append("%s on port %r (%r), metrics-addr says %r" % (probe, port, number,
                                                                          metrics_port))
        if get(c, probe, "httpGet", "path") != "/metrics":
            problems.append("%s: path should be /metrics" % probe)
    problems += check_network_policy(by_kind["NetworkPolicy"][0], labels, ports, metrics_port)

    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    mounts = {m.get("mountPath"): m for m in c.get("volumeMounts") or []}
    for m in mounts.values():
        if m.get("name") not in volumes:
            problems.append("volumeMount %r names no volume" % m.get("name"))
    for path in ("/sys/kernel/btf", "/sys/kernel/tracing"):
        m = mounts.get(path)
        if not m or not m.get("readOnly"):
            problems.append("%s must be mounted read-only" % path)
        elif get(volumes.get(m["name"]), "hostPath", "path") != path:
            problems.append("%s must come from the node (hostPath %s)" % (path, path))
    pods = opts.get("pods-dir")
    if pods:
        m = mounts.get(pods)
        if not m or not m.get("readOnly") or \
                get(volumes.get(m["name"]), "hostPath", "path") != pods:
            problems.append("pods-dir %s must be the node's, mounted read-only" % pods)
    store = opts.get("store")
    m = mounts.get(store)
    if not store or not m or get(volumes.get(m["name"]), "hostPath", "path") is None:
        problems.append("the store %r must be a hostPath mount (it outlives the pod)" % store)
    elif m.get("readOnly"):
        problems.append("the store mount is read-only")
    args = c.get("args") or []
    if "--config" not in args or args.index("--config") + 1 >= len(args):
        problems.append("container args do not pass --config")
    else:
        conf_path = args[args.index("--config") + 1]
        mdir, key = os.path.split(conf_path)
        m = mounts.get(mdir)
        if not m or get(volumes.get(m["name"]), "configMap", "name") != cm["metadata"]["name"] \
                or key not in data:
            problems.append("--config %s is not the ConfigMap's %s mounted there" % (conf_path, key))
    return problems


def check_patch(docs, container):
    spec = docs[0] if docs else None
    names = [c.get("name") for c in get(spec, "spec", "template", "spec", "containers") or []]
    if names != [container]:
        return ["privileged-patch.yaml patches containers %r, not %r" % (names, container)]
    return []


def check_dockerfile(text):
    stages = re.split(r"(?m)^FROM ", text)
    final = stages[-1]
    problems = []
    for tool in ("gcc", "clang", "make", "-dev"):
        if re.search(r"(?m)^RUN .*\b%s\b" % re.escape(tool), final.replace("\\\n", " ")):
            problems.append("Dockerfile: the final stage installs %s" % tool)
    if "agent.conf" not in final or "--config" not in final:
        problems.append("Dockerfile: the final stage does not run the agent with its config")
    return problems


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    leakbpf = argv[1]
    with open(MANIFEST) as f:
        docs = list(yaml.safe_load_all(f))
    with open(CONF) as f:
        conf_text = f.read()
    problems = check(docs, conf_text)
    ds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "DaemonSet"]
    with open(PATCH) as f:
        problems += check_patch(list(yaml.safe_load_all(f)),
                                ds[0]["spec"]["template"]["spec"]["containers"][0]["name"]
                                if ds else None)
    with open(DOCKERFILE) as f:
        problems += check_dockerfile(f.read())
    cm = [d for d in docs if isinstance(d, dict) and d.get("kind") == "ConfigMap"]
    if cm:
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as tmp:
            tmp.write(cm[0]["data"]["agent.conf"])
            tmp.flush()
            cp = subprocess.run([leakbpf, "agent", "--config", tmp.name, "--check-config"],
                                capture_output=True, text=True)
            if cp.returncode != 0:
                problems.append("leakbpf agent --check-config refuses the ConfigMap: %s"
                                % cp.stderr.strip())
    for p in problems:
        print("deploy: %s" % p, file=sys.stderr)
    if not problems:
        print("deploy: %d Kubernetes objects, the privileged patch and the Dockerfile are consistent"
              % len(docs))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
