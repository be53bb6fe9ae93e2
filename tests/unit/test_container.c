/* SPDX-License-Identifier: MIT */
/*
 * Container and pod identity from /proc/PID/cgroup as the runtimes write
 * it (containerd, CRI-O and Docker; cgroup v1 and v2; systemd and cgroupfs
 * drivers), and the PID inside a container from NSpid.
 */
#include <string.h>

#include "container.h"
#include "testing.h"

#define ID "3f2a1b0c9d8e7f60112233445566778899aabbccddeeff00112233445566aabb"
#define UID "0f5c3e2a-1b4d-4c6e-8f90-a1b2c3d4e5f6"
#define UID_ "0f5c3e2a_1b4d_4c6e_8f90_a1b2c3d4e5f6"

static const struct {
	const char *name, *text, *runtime, *id, *pod;
} cases[] = {
	{ "containerd, cgroup v2, systemd driver",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/cri-containerd-" ID ".scope\n", "containerd", ID, UID },
	{ "containerd, cgroup v2, cgroupfs driver",
	  "0::/kubepods/besteffort/pod" UID "/" ID "\n", "", ID, UID },
	{ "containerd, cgroup v1, cgroupfs driver",
	  "12:pids:/kubepods/burstable/pod" UID "/" ID "\n"
	  "11:memory:/kubepods/burstable/pod" UID "/" ID "\n"
	  "1:name=systemd:/kubepods/burstable/pod" UID "/" ID "\n", "", ID, UID },
	{ "CRI-O, cgroup v2, systemd driver",
	  "0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope\n", "cri-o", ID, UID },
	{ "CRI-O, cgroup v1",
	  "10:cpu,cpuacct:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/crio-" ID ".scope\n", "cri-o", ID, UID },
	{ "Docker, cgroup v2, systemd driver",
	  "0::/system.slice/docker-" ID ".scope\n", "docker", ID, "" },
	{ "Docker, cgroup v1, cgroupfs driver",
	  "9:memory:/docker/" ID "\n8:cpu:/docker/" ID "\n", "docker", ID, "" },
	{ "the host: a systemd service",
	  "0::/system.slice/ssh.service\n", "", "", "" },
	{ "the host: cgroup v1 user session",
	  "12:pids:/user.slice/user-0.slice/session-1.scope\n1:name=systemd:/user.slice\n", "", "", "" },
	{ "a CRI-O conmon is not a container",
	  "0::/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID ".scope\n", "", "", "" },
};

int main(void)
{
	struct container_info c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&c, 0x55, sizeof(c));
		container_parse_cgroup(cases[i].text, &c);
		CHECK(!strcmp(c.id, cases[i].id), "%s: id '%s'", cases[i].name, c.id);
		CHECK(!strcmp(c.pod_uid, cases[i].pod), "%s: pod '%s'", cases[i].name, c.pod_uid);
		CHECK(!strcmp(c.runtime, cases[i].runtime), "%s: runtime '%s'", cases[i].name, c.runtime);
	}
	CHECK(container_parse_nspid("Name:\tpython3\nNSpid:\t48213\t7\nNSsid:\t1\n") == 7,
	      "NSpid: the innermost of two namespaces");
	CHECK(container_parse_nspid("Name:\tpython3\nNSpid:\t48213\n") == 48213,
	      "NSpid: one namespace, the same PID");
	CHECK(container_parse_nspid("Name:\tpython3\nNSpid:\t9\t8\t3\n") == 3, "NSpid: nested");
	CHECK(container_parse_nspid("Name:\tpython3\n") == 0, "no NSpid line (old kernel)");
	{
		char ns[64], pod[254];

		CHECK(!container_parse_pod_dir("shop_web-5d4f8c7b9-x2k4q_" UID, UID, ns, sizeof(ns), pod,
					       sizeof(pod)) && !strcmp(ns, "shop") &&
		      !strcmp(pod, "web-5d4f8c7b9-x2k4q"), "pod log dir: namespace and name (%s/%s)", ns, pod);
		CHECK(container_parse_pod_dir("shop_web_" UID "x", UID, ns, sizeof(ns), pod, sizeof(pod)),
		      "pod log dir of another UID");
		CHECK(container_parse_pod_dir("_" UID, UID, ns, sizeof(ns), pod, sizeof(pod)),
		      "pod log dir without a name");
	}
	return tests_summary();
}
