// SPDX-License-Identifier: MIT
#include "container.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "target_file.h"

static bool is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* The pod UID in a cgroup path: "pod" then 36 characters of a UUID, with
 * dashes (cgroupfs driver: /kubepods/burstable/pod0f5c...) or underscores
 * (systemd driver: kubepods-burstable-pod0f5c..._....slice). */
static void find_pod_uid(const char *path, struct container_info *out)
{
	const char *p;

	for (p = strstr(path, "pod"); p; p = strstr(p + 3, "pod")) {
		const char *u = p + 3;
		size_t i;

		if (strlen(u) < 36)
			return;
		for (i = 0; i < 36; i++) {
			bool sep = i == 8 || i == 13 || i == 18 || i == 23;

			if (sep ? (u[i] != '-' && u[i] != '_') : !isxdigit((unsigned char)u[i]))
				break;
		}
		if (i < 36)
			continue;
		for (i = 0; i < 36; i++)
			out->pod_uid[i] = u[i] == '_' ? '-' : (char)tolower((unsigned char)u[i]);
		out->pod_uid[36] = '\0';
		return;
	}
}

/* The container ID: the last path segment that is (or wraps) 64 hex
 * digits: "cri-containerd-<id>.scope", "crio-<id>.scope", "docker-<id>.scope"
 * (systemd driver) or "<id>" (cgroupfs driver, under /kubepods or /docker). */
static void find_container_id(const char *path, struct container_info *out)
{
	static const struct { const char *prefix, *runtime; } kinds[] = {
		{ "cri-containerd-", "containerd" }, { "crio-", "cri-o" },
		{ "docker-", "docker" }, { "", NULL },
	};
	const char *seg = strrchr(path, '/');
	size_t i, plen;

	seg = seg ? seg + 1 : path;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		plen = strlen(kinds[i].prefix);
		if (strncmp(seg, kinds[i].prefix, plen) || strlen(seg + plen) < 64 ||
		    !is_hex(seg + plen, 64) || (seg[plen + 64] && strcmp(seg + plen + 64, ".scope")))
			continue;
		memcpy(out->id, seg + plen, 64);
		out->id[64] = '\0';
		if (kinds[i].runtime)
			snprintf(out->runtime, sizeof(out->runtime), "%s", kinds[i].runtime);
		else if (strstr(path, "docker"))
			snprintf(out->runtime, sizeof(out->runtime), "docker");
		else if (strstr(path, "crio"))
			snprintf(out->runtime, sizeof(out->runtime), "cri-o");
		else if (strstr(path, "containerd"))
			snprintf(out->runtime, sizeof(out->runtime), "containerd");
		return;
	}
}

void container_parse_cgroup(const char *text, struct container_info *out)
{
	char line[1024];
	const char *p = text;

	out->runtime[0] = out->id[0] = out->pod_uid[0] = '\0';
	/* "hierarchy:controllers:path" per line; v1 repeats the same path for
	 * each controller, v2 has one "0::" line: the first line naming a
	 * container decides */
	while (p && *p && !out->id[0]) {
		const char *nl = strchr(p, '\n'), *path;
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl ? nl + 1 : NULL;
		path = strchr(line, ':');
		path = path ? strchr(path + 1, ':') : NULL;
		if (!path)
			continue;
		path++;
		find_container_id(path, out);
		if (out->id[0] && !out->pod_uid[0])
			find_pod_uid(path, out);
	}
}

pid_t container_parse_nspid(const char *status)
{
	const char *p = strstr(status, "\nNSpid:");
	char *end;
	long v, last = 0;

	if (!p)
		return 0;
	p += 7;
	for (;;) {
		v = strtol(p, &end, 10);
		if (end == p)
			break;
		last = v;
		p = end;
		if (*p == '\n')
			break;
	}
	return (pid_t)last;
}

/* The first line of a file inside the process's root, trimmed. The pod
 * controls that file: it is resolved inside its root (an absolute link
 * there cannot name a file of the node), read only if it is a regular file
 * (a FIFO would stop the agent), and only len bytes of it. */
static void read_inside(pid_t pid, const char *path, char *buf, size_t len)
{
	size_t got;

	if (target_file_read(pid, path, buf, len, &got))
		buf[0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
}

static const char *pods_dir = "/var/log/pods";

void container_set_pods_dir(const char *dir)
{
	pods_dir = dir;
}

int container_parse_pod_dir(const char *name, const char *uid, char *ns, size_t ns_len,
			    char *pod, size_t pod_len)
{
	size_t n = strlen(name), u = strlen(uid);
	const char *sep;

	/* namespaces and pod names have no '_' (DNS labels and subdomains) */
	if (n < u + 4 || strcmp(name + n - u, uid) || name[n - u - 1] != '_')
		return -ENOENT;
	sep = strchr(name, '_');
	if (!sep || sep == name || sep >= name + n - u - 1)
		return -ENOENT;
	snprintf(ns, ns_len, "%.*s", (int)(sep - name), name);
	snprintf(pod, pod_len, "%.*s", (int)(name + n - u - 1 - sep - 1), sep + 1);
	return 0;
}

static void pod_from_log_dir(struct container_info *out)
{
	char ns[64], pod[254];
	struct dirent *e;
	DIR *d = pods_dir ? opendir(pods_dir) : NULL;

	while (d && (e = readdir(d))) {
		if (container_parse_pod_dir(e->d_name, out->pod_uid, ns, sizeof(ns), pod, sizeof(pod)))
			continue;
		if (!out->pod_namespace[0])
			snprintf(out->pod_namespace, sizeof(out->pod_namespace), "%s", ns);
		if (!out->pod_name[0])
			snprintf(out->pod_name, sizeof(out->pod_name), "%s", pod);
		break;
	}
	if (d)
		closedir(d);
}

int container_of(pid_t pid, struct container_info *out)
{
	char *text = NULL;
	size_t len;
	int err;

	memset(out, 0, sizeof(*out));
	err = proc_read_file(pid, "cgroup", &text, &len);
	if (err)
		return err;
	container_parse_cgroup(text, out);
	free(text);
	err = proc_read_file(pid, "status", &text, &len);
	if (err)
		return err;
	out->ns_pid = container_parse_nspid(text);
	free(text);
	/* a pod's hostname is its name; its service account's mount says its
	 * namespace (absent when automounting is off: then unknown) */
	if (out->pod_uid[0]) {
		read_inside(pid, "/etc/hostname", out->pod_name, sizeof(out->pod_name));
		/* /var/run is often a symlink to /run, which /proc/PID/root
		 * would resolve against our root, not the container's */
		read_inside(pid, "/run/secrets/kubernetes.io/serviceaccount/namespace",
			    out->pod_namespace, sizeof(out->pod_namespace));
		if (!out->pod_namespace[0])
			read_inside(pid, "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
				    out->pod_namespace, sizeof(out->pod_namespace));
		if (!out->pod_namespace[0] || !out->pod_name[0])
			pod_from_log_dir(out);
	}
	return 0;
}

const char *container_short(const struct container_info *c, char *buf, size_t len)
{
	if (!c->id[0])
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%s %.12s", c->runtime[0] ? c->runtime : "container", c->id);
	return buf;
}
