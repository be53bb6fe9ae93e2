/* SPDX-License-Identifier: MIT */
/* The clocks leakbpf reads: CLOCK_MONOTONIC (intervals, schedules, the BPF
 * side's bpf_ktime_get_ns) and CLOCK_REALTIME (what the store records). */
#ifndef LEAKBPF_CLOCKS_H
#define LEAKBPF_CLOCKS_H

#include <stdint.h>

uint64_t monotonic_ns(void);
double monotonic_seconds(void);
double wall_seconds(void);

#endif
