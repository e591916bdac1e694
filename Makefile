# SPDX-License-Identifier: GPL-2.0
#
# ktlsd: one GNU Makefile for the daemon, the control tool, the BPF programs
# and the three test suites. Everything is built out of tree in $(BUILD).
#
#   make              build ktlsd, ktlsctl and the BPF objects
#   make deps         install build and test dependencies (apt-get)
#   make test         unit + host suites (plain, ASan/UBSan, TSan) + vm + systemd suites
#   make test-unit | test-host | test-san | test-tsan | test-vm [KERNEL=linux-image-...] | test-vm61 | test-systemd
#   make demo         run ktlsd on a demo config in front of a demo backend
#   make fuzz         bounded libFuzzer runs
#   make bench        ktlsd against stunnel, HAProxy and nginx (deps-bench first)
#   make install DESTDIR= PREFIX=
#   make deb          build ktlsd_VERSION_ARCH.deb (and lint it)
#   make clean
#
# V=1 shows full commands. SAN=1 builds with AddressSanitizer + UBSan (into
# build/asan), SAN=thread with ThreadSanitizer (build/tsan; make test-tsan).

.DELETE_ON_ERROR:
# Keep intermediate files (BPF skeletons, test objects): they are inputs
# of later builds, not temporaries.
.SECONDARY:
.SUFFIXES:

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
SAN        ?= 0
BUILD      ?= build$(if $(filter 1,$(SAN)),/asan,)$(if $(filter thread,$(SAN)),/tsan,)
CACHE      ?= build/cache

CC         ?= cc
CLANG      ?= clang
BPFTOOL    ?= bpftool
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS := openssl libbpf libnl-3.0 libnl-route-3.0 libnl-idiag-3.0 inih libsystemd libseccomp

# Refuse early, with the fix, instead of failing on a missing header later.
ifeq ($(filter deps deps-bench test demo deb clean distclean help,$(MAKECMDGOALS)),)
MISSING := $(strip $(foreach p,$(PKGS),$(if $(shell $(PKG_CONFIG) --exists $(p) && echo y),,$(p))) \
	$(if $(shell command -v $(CLANG)),,clang) $(if $(shell command -v $(BPFTOOL)),,bpftool))
ifneq ($(MISSING),)
$(error missing build dependencies: $(MISSING). Run 'make deps' (as root) first)
endif
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -DKTLSD_VERSION='"$(VERSION)"' -Iinclude -Idaemon -I$(BUILD)/bpf
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
CFLAGS   += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=thread
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP
LIBS        = $(PKG_LIBS) -lpthread
TEST_LIBS   = $(LIBS)

# Kernel selftest harness, taken from Debian's linux-source-6.12 at build time.
KSRC_TAR   ?= $(firstword $(wildcard /usr/src/linux-source-6.12.tar.xz))
HARNESS    := $(CACHE)/selftests/kselftest_harness.h
TEST_CFLAGS = -I$(CACHE)/selftests -Itests/lib -Wno-sign-compare -Wno-clobbered

# ---- sources -------------------------------------------------------------
DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
LIBKTLSD    := $(BUILD)/libktlsd.a
CTL_SRCS    := $(wildcard ctl/*.c)
BPF_SRCS    := $(wildcard bpf/*.bpf.c)
BPF_OBJS    := $(BPF_SRCS:%.bpf.c=$(BUILD)/%.bpf.o)
BPF_SKELS   := $(BPF_SRCS:%.bpf.c=$(BUILD)/%.skel.h)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/*.c))
HOST_TESTS  := $(patsubst tests/host/%.c,$(BUILD)/tests/host/%,$(wildcard tests/host/*.c))
VM_TESTS    := $(patsubst tests/vm/%.c,$(BUILD)/tests/vm/%,$(wildcard tests/vm/*.c))
FUZZERS     := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/*.c))

PROGS := $(BUILD)/ktlsd $(BUILD)/ktlsctl $(BUILD)/tests/lib/backend \
	 $(BUILD)/tests/lib/flood

.PHONY: all deps deps-bench test test-unit test-host test-vm test-vm61 test-san test-tsan check \
	test-systemd demo fuzz install deb clean help harness tests bench
all: $(PROGS) $(BPF_OBJS)

help:
	@sed -n '3,18p' Makefile | sed 's/^# \{0,1\}//'

deps:
	$(Q)scripts/install-deps build

deps-bench:
	$(Q)scripts/install-deps bench

# ---- BPF ---------------------------------------------------------------
BPF_CFLAGS := -g -O2 -target bpf -Wall -Werror -I/usr/include/$(shell uname -m)-linux-gnu -Iinclude

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard include/ktlsd/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# ---- C -----------------------------------------------------------------
$(BUILD)/%.o: %.c | $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c $(HARNESS) | $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -c $< -o $@

# The demo's backend is plain C: it must not wait for the test harness
# (linux-source), which 'make demo' does not install.
$(BUILD)/tests/lib/backend.o: tests/lib/backend.c | $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBKTLSD): $(DAEMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/ktlsd: $(BUILD)/daemon/main.o $(LIBKTLSD)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# ktlsctl shares only include/ktlsd/ with the daemon: it neither sees the
# daemon's private headers nor links its code.
$(BUILD)/ctl/%.o: CPPFLAGS := $(filter-out -Idaemon,$(CPPFLAGS))
$(BUILD)/ktlsctl: $(CTL_SRCS:%.c=$(BUILD)/%.o)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Stand-alone helper programs of the tests (and of bench/run).
$(BUILD)/tests/lib/backend: $(BUILD)/tests/lib/backend.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/tests/lib/flood: $(BUILD)/tests/lib/flood.o $(BUILD)/tests/lib/testlib.o \
			  $(BUILD)/tests/lib/tls.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

TESTLIB_LINK := $(filter-out $(BUILD)/tests/lib/backend.o $(BUILD)/tests/lib/flood.o,\
		  $(TESTLIB_OBJS))
$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TESTLIB_LINK) $(LIBKTLSD)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)
$(BUILD)/tests/host/%: $(BUILD)/tests/host/%.o $(TESTLIB_LINK) $(LIBKTLSD)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)
$(BUILD)/tests/vm/%: $(BUILD)/tests/vm/%.o $(TESTLIB_LINK) $(LIBKTLSD)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

# ---- kselftest harness from linux-source-6.12 ---------------------------
$(HARNESS):
	$(Q)scripts/fetch-selftests "$(KSRC_TAR)" "$(CACHE)"

harness: $(HARNESS)

# The kernel's own kTLS selftest, run inside the VM by tests/vm/run-vm.
# Stable backports call tls_crypto_info_init() with a 4th argument the file
# does not declare; the macro drops it. bookworm's UAPI headers suffice.
KTLS_SELFTEST := $(CACHE)/selftests/tls
$(KTLS_SELFTEST): $(HARNESS)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -Wall -D'tls_crypto_info_init(a,b,c,...)=tls_crypto_info_init(a,b,c)' \
		-I$(CACHE)/selftests $(CACHE)/selftests/net/tls.c -o $@.tmp -lpthread && mv $@.tmp $@

tests: all $(UNIT_TESTS) $(HOST_TESTS) $(VM_TESTS) $(KTLS_SELFTEST)

# ---- test suites ---------------------------------------------------------
# 'make test' is what CI runs: it installs what it needs, then runs every
# suite; each failing suite fails the run.
test:
	$(Q)scripts/install-deps build
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)$(MAKE) --no-print-directory SAN=1 tests
	$(Q)$(MAKE) --no-print-directory SAN=thread tests
	$(Q)$(MAKE) --no-print-directory deb
	$(Q)scripts/run-suites $(BUILD) $(BUILD)/asan $(BUILD)/tsan

test-unit: tests
	$(Q)tests/run-suite unit $(BUILD)
test-host: tests
	$(Q)tests/run-suite host $(BUILD)
test-san:
	$(Q)$(MAKE) --no-print-directory SAN=1 tests
	$(Q)tests/run-suite unit build/asan && tests/run-suite host build/asan
# ThreadSanitizer (TSAN_OPTIONS: see tests/run-suite).
test-tsan:
	$(Q)$(MAKE) --no-print-directory SAN=thread tests
	$(Q)tests/run-suite unit build/tsan && tests/run-suite host build/tsan
test-vm: tests
	$(Q)tests/vm/run-vm $(BUILD) $(if $(KERNEL),--kernel $(KERNEL))
# The redirect tests on Debian 12's newest 6.1 kernel (part of 'make test').
test-vm61: tests
	$(Q)tests/run-suite vm61 $(BUILD)
# The package under systemd as PID 1 in a VM (tests/systemd/run-systemd).
test-systemd: all deb
	$(Q)tests/run-suite systemd $(BUILD) $(BUILD)/ktlsd_$(VERSION)_$(shell dpkg --print-architecture).deb

check: test

demo:
	$(Q)scripts/install-deps demo
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo $(BUILD)

fuzz:
	$(Q)$(MAKE) --no-print-directory CC=clang SAN=0 BUILD=build/fuzz-obj fuzz-build
	$(Q)tests/fuzz/run build/fuzz-obj

# libFuzzer targets (clang only): every object of this BUILD is instrumented
# for coverage and ASan; tests/fuzz/NAME.c becomes $(BUILD)/fuzz/NAME.
.PHONY: fuzz-build
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer
fuzz-build: CFLAGS += $(FUZZ_FLAGS)
# clang's -Wformat=2 also flags vprintf-style helpers that gcc accepts.
fuzz-build: WARN += -Wno-format-nonliteral
fuzz-build: $(FUZZERS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIBKTLSD)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer,address -o $@ $< $(LIBKTLSD) $(LIBS)

# ---- benchmark -----------------------------------------------------------
# 'make bench' compares ktlsd with stunnel4, HAProxy and nginx on this host,
# a steered port with a plain one, and kTLS with userspace mode in the VM
# (bench/run); 'make deps-bench' installs what it needs. The VM image
# builder (tests/vm/run-vm) wants the kernel's tls selftest to exist.
$(BUILD)/bench/loadgen: bench/loadgen.c
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS)

# The cost of a signature through the key holder: links the daemon's code.
$(BUILD)/bench/signing: $(BUILD)/bench/signing.o $(LIBKTLSD)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

bench: all $(BUILD)/bench/loadgen $(BUILD)/bench/signing $(KTLS_SELFTEST)
	$(Q)scripts/install-deps bench
	$(Q)bench/run $(BUILD)

# ---- install -------------------------------------------------------------
# The unit is generated from dist/ktlsd.service.in (into $(BUILD)/dist/) with the directories
# used here, so that its ExecStart= names the installed binary. systemd,
# systemd-sysusers and modules-load also look under /usr/local/lib; with
# PREFIX=/usr the unit goes where Debian 12 keeps units (/lib/systemd/system).
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/ktlsd
SYSCONFDIR ?= /etc
LIBDIR     ?= $(PREFIX)/lib
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib,$(LIBDIR))/systemd/system
EXAMPLES   := $(wildcard examples/*.conf)

$(BUILD)/dist/ktlsd.service: dist/ktlsd.service.in Makefile
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
		-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@.tmp && mv $@.tmp $@

# Always regenerated: the directories come from this make's command line.
.PHONY: $(BUILD)/dist/ktlsd.service
install: all $(BUILD)/dist/ktlsd.service
	install -D -m 0755 $(BUILD)/ktlsd $(DESTDIR)$(SBINDIR)/ktlsd
	install -D -m 0755 $(BUILD)/ktlsctl $(DESTDIR)$(BINDIR)/ktlsctl
	install -D -m 0644 -t $(DESTDIR)$(MANDIR)/man5 man/*.5
	install -D -m 0644 -t $(DESTDIR)$(MANDIR)/man8 man/*.8
	install -D -m 0644 -t $(DESTDIR)$(DOCDIR)/examples $(EXAMPLES)
	install -D -m 0644 $(BUILD)/dist/ktlsd.service $(DESTDIR)$(UNITDIR)/ktlsd.service
	install -D -m 0644 dist/ktlsd.sysusers $(DESTDIR)$(LIBDIR)/sysusers.d/ktlsd.conf
	install -D -m 0644 dist/modules-load.conf $(DESTDIR)$(LIBDIR)/modules-load.d/ktlsd.conf
	@# An existing configuration is the operator's: never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/ktlsd/ktlsd.conf ] || \
		install -D -m 0640 dist/ktlsd.conf $(DESTDIR)$(SYSCONFDIR)/ktlsd/ktlsd.conf

# ---- Debian package --------------------------------------------------------
# 'make deb' installs the packaging tools and build dependencies, builds
# ktlsd_$(VERSION)_ARCH.deb from a clean copy of the tree (the build leaves
# this tree's build/ alone), copies it to $(BUILD)/ and runs lintian, which
# must report no error and no warning.
DEB_DIR := $(BUILD)/deb
deb:
	$(Q)scripts/install-deps deb
	$(Q)scripts/build-deb $(VERSION) $(DEB_DIR) $(BUILD)

clean:
	rm -rf build/asan build/fuzz-obj $(filter-out build/cache,$(wildcard build/*))

distclean:
	rm -rf build

# Dependency files only: the package build under $(BUILD)/deb holds
# directories such as modules-load.d.
-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
