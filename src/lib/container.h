/* SPDX-License-Identifier: MIT */
/*
 * Which container and pod a process of the node belongs to: the container
 * ID and pod UID from its cgroup path (containerd, CRI-O and Docker; cgroup
 * v1 and v2; systemd and cgroupfs drivers), its PID inside its own PID
 * namespace (NSpid), and the pod's name and namespace read through its own
 * root (/etc/hostname, the service account's namespace file), when it runs
 * in a Kubernetes pod.
 */
#ifndef LEAKBPF_CONTAINER_H
#define LEAKBPF_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

struct container_info {
	char runtime[16];		/* "containerd", "cri-o", "docker", "" */
	char id[65];			/* container ID (hex), "" on the host */
	char pod_uid[37];		/* "0f5c...-..." (dashes), "" if not a pod */
	char pod_name[254];		/* "" if unknown */
	char pod_namespace[64];		/* "" if unknown */
	pid_t ns_pid;			/* PID inside its innermost PID namespace */
};

/* From the text of /proc/PID/cgroup (pure; tested on each layout). */
void container_parse_cgroup(const char *text, struct container_info *out);
/* The innermost PID of a /proc/PID/status text's NSpid line; 0 if none. */
pid_t container_parse_nspid(const char *status_text);
/* The kubelet's pod log directory names each pod NAMESPACE_NAME_UID: the
 * fallback for name and namespace when the pod's own files do not say
 * (no service account mounted). Default /var/log/pods. */
void container_set_pods_dir(const char *dir);
/* From one such directory name, if it ends with _uid: 0, else -ENOENT. */
int container_parse_pod_dir(const char *name, const char *uid, char *ns, size_t ns_len,
			    char *pod, size_t pod_len);
/* Everything above for a live process. 0 or -errno (gone). */
int container_of(pid_t pid, struct container_info *out);
/* "containerd 3f2a1b..." short form for text output: runtime and the
 * first 12 characters of the ID, "" on the host. */
const char *container_short(const struct container_info *c, char *buf, size_t len);

#endif
