# SPDX-License-Identifier: MIT
# leakbpf build. `make` builds build/leakbpf with the BPF programs embedded as
# skeletons; `make check` installs what is missing and runs every test.
# V=1 shows full commands; OUTPUT=dir builds out of tree.

OUTPUT ?= build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
VMLINUX_H ?= $(OUTPUT)/vmlinux.h
ARCH ?= x86

CFLAGS ?= -O2 -g
# The project's own flags stay apart so that `make CFLAGS=...` (sanitizers,
# other optimisation) cannot drop the include paths.
# src/ holds one folder per layer, headers beside their sources; include/
# only what the BPF programs share with userspace (make layers checks that
# no layer includes one above it).
SRC_DIRS := $(sort $(patsubst %/,%,$(dir $(wildcard src/*/*.c src/*/*.h))))
LB_CFLAGS = $(CFLAGS) -std=gnu11 -Wall -Wextra -Iinclude $(addprefix -I,$(SRC_DIRS)) \
	-I$(OUTPUT) -MMD -MP
LDLIBS := -lbpf -lelf -lz -lcapstone -lsqlite3 -lmicrohttpd -lpthread -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUTPUT) -Iinclude -Ibpf \
	-Wall -MMD -MP

SRCS := $(wildcard src/*/*.c)
OBJS := $(patsubst src/%.c,$(OUTPUT)/obj/%.o,$(SRCS))
LIB_OBJS := $(filter-out $(OUTPUT)/obj/cli/main.o,$(OBJS))
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
# Skeletons and BPF objects are intermediate files; keep them so that a
# second `make` has nothing to do.
.SECONDARY:
.PHONY: all clean deps check unit deploy-check integration demo bench layers

all: $(OUTPUT)/leakbpf

$(OUTPUT)/leakbpf: $(OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LB_CFLAGS) $^ $(LDLIBS) -o $@

# Every C object waits for the skeletons: the first build has no .d files
# yet to say which object includes which skeleton.
$(OUTPUT)/obj/%.o: src/%.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LB_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$(basename $(basename $(notdir $<))))_bpf > $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# vmlinux.h comes from the running kernel's BTF (CO-RE relocates the few
# kernel fields we read, so the programs run on other kernels too).
$(VMLINUX_H):
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LB_CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

deps:
	$(Q)deploy/install-deps.sh

unit: all $(UNIT_BINS)
	$(Q)tests/unit/run.sh $(OUTPUT)

# Lower layers never include upper ones; no include cycle between modules.
layers:
	$(Q)/usr/bin/python3 tests/layers.py

# deploy/ is well-formed and agrees with the agent (no API server needed).
deploy-check: all
	$(Q)/usr/bin/python3 tests/deploy/check_manifests.py $(OUTPUT)/leakbpf
	$(Q)/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/deploy

integration: all
	$(Q)LEAKBPF=$(abspath $(OUTPUT))/leakbpf tests/integration/run.sh

# The README's test command: installs what is missing, builds, runs it all.
check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory layers
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory deploy-check
	$(Q)$(MAKE) --no-print-directory integration

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/demo.sh $(OUTPUT)/leakbpf

# Not a test: measures leakbpf against the alternatives, writes bench/RESULTS.md.
bench:
	$(Q)deploy/install-deps.sh bench
	$(Q)$(MAKE) --no-print-directory all
	$(Q)/usr/bin/python3 bench/run.py $(abspath $(OUTPUT))/leakbpf $(abspath $(OUTPUT)) $(BENCH_ARGS)

clean:
	$(Q)rm -rf $(OUTPUT)

-include $(OBJS:.o=.d) $(BPF_OBJS:.o=.d)
