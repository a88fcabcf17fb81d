# varvault: plain GNU make.  `make help` lists the targets.
# Local overrides (CC, CFLAGS, PREFIX, ...) go in config.mk.
-include config.mk

CC       ?= cc
CFLAGS   ?= -O2 -g
LDFLAGS  ?=
PREFIX   ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR  ?=
SANITIZE ?= 0
PYTHON   ?= /usr/bin/python3
# Seconds each libFuzzer target runs under `make fuzz`.
FUZZ_SECONDS ?= 60

# Objects and binaries live in build/ (build/san/ for the sanitizer build,
# so the two never mix).
ifeq ($(SANITIZE),1)
O := build/san
SAN_CFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_LDFLAGS := -fsanitize=address,undefined
else
O := build
endif

PKGS      := libsodium openssl sqlite3 openblas htslib libsystemd libseccomp json-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
# oneDNN (libdnnl-dev, bf16 precision) has no pkg-config file; it runs on
# OpenMP (libgomp), whose thread count src/model/bf16.c sets.
PKG_LIBS   += -ldnnl -lgomp
# Each program links only the libraries its own objects need: the client
# (varvault) runs without OpenBLAS, htslib or SQLite (DESIGN.md's
# small client; tests/integration/test_link.sh checks it with readelf).
VARVAULT_PKGS := libsodium openssl json-c
VARVAULT_LIBS := $(shell pkg-config --libs $(VARVAULT_PKGS) 2>/dev/null) -lpthread
ADMIN_LIBS    := $(PKG_LIBS)
TEST_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

# Named flag groups (STYLE.md rule 18).
STD_FLAGS    := -std=c11 -D_GNU_SOURCE
WARN_FLAGS   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
                -Wformat=2 -Wno-format-nonliteral -Wvla -Wpointer-arith -Wcast-qual
HARDEN_FLAGS := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE \
                -fvisibility=hidden -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
HARDEN_LDFLAGS := -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
ALL_CFLAGS  := $(STD_FLAGS) $(WARN_FLAGS) $(HARDEN_FLAGS) -Iinclude $(PKG_CFLAGS) \
               $(CFLAGS) $(SAN_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(HARDEN_LDFLAGS) $(LDFLAGS) $(SAN_LDFLAGS)

# The library: one folder per module, all in one archive.
LIB_MODULES := core c4gh vcf model interpret store audit net
LIB_SRC  := $(sort $(wildcard $(addsuffix /*.c,$(addprefix src/,$(LIB_MODULES)))))
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/obj/%.o)
LIB      := $(O)/libvarvault.a

# Programs: thin mains over their own command files; cli.c (dispatch,
# option helpers) is shared.  A command file belongs to one program, so the
# client's objects never reach model, vcf or interpret.
CLI_SHARED   := src/cli/cli.c
VARVAULT_SRC := src/cli/varvault.c src/cli/cmd_c4gh.c src/cli/passphrase.c src/cli/cmd_client.c \
                src/cli/witness.c src/cli/client_audit.c src/cli/audit_report.c $(CLI_SHARED)
ADMIN_SRC    := src/cli/varvault-admin.c src/cli/cmd_model.c src/cli/cmd_annotate.c src/cli/cmd_admin.c \
                src/cli/cmd_audit.c src/cli/admin_audit_keys.c src/cli/cmd_precompute.c \
                src/cli/engine_open.c $(CLI_SHARED)
VARVAULT_OBJ := $(VARVAULT_SRC:%.c=$(O)/obj/%.o)
ADMIN_OBJ    := $(ADMIN_SRC:%.c=$(O)/obj/%.o) $(O)/obj/src/daemon/config.o
# What tests/unit/test_cli.c links: the client's helpers without its main.
CLI_OBJ      := $(filter-out $(O)/obj/src/cli/varvault.o,$(VARVAULT_OBJ))
PROGS        := $(O)/varvault $(O)/varvault-admin
# The daemon: a thin main over src/daemon/*.c (its objects are also linked
# into test_daemon) and the library.
DAEMON_MAIN := src/daemon/varvaultd.c
DAEMON_OBJ  := $(patsubst %.c,$(O)/obj/%.o,$(filter-out $(DAEMON_MAIN),$(sort $(wildcard src/daemon/*.c))))
PROGS      += $(O)/varvaultd
# A test build of the daemon: the same sources compiled with VV_TEST_HOOKS,
# which enables hidden options that only tests use (a worker that tries
# forbidden system calls, a main loop blocked on purpose).  Never installed.
DAEMON_TEST_OBJ := $(patsubst %.c,$(O)/obj-testhooks/%.o,$(sort $(wildcard src/daemon/*.c)))
TESTHOOKS_BIN   := $(O)/tests/varvaultd-testhooks

# Unit tests: tests/unit/test_<module>.c, each its own cmocka program.
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
# Fuzz harnesses, also replayed over their corpora by `make check`.
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/tests/replay_%)
# Helper programs that integration tests drive: tests/helpers/NAME.c.
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(O)/tests/helpers/%)
# Benchmarks.
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(O)/bench/%)

# V=1 shows whole command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif
# Keep objects that pattern rules build on the way to a program.
.SECONDARY:

.PHONY: all help deps check test bench demo fuzz install uninstall clean mutate deb
all: $(PROGS)

help:
	@echo "make [SANITIZE=1]      build $(O)/varvault and $(O)/varvault-admin"
	@echo "make deps              install missing Debian packages (packaging/deps.txt)"
	@echo "make check             run every test (unit, integration, parity, fuzz corpora)"
	@echo "make check SANITIZE=1  the same under ASan + UBSan"
	@echo "make bench             speed figures against references measured in the same run"
	@echo "make demo              the main job on the bundled defaults"
	@echo "make mutate            mutation testing (tests/mutants.txt; slow, not part of check)"
	@echo "make fuzz              libFuzzer, FUZZ_SECONDS per target (default $(FUZZ_SECONDS))"
	@echo "make install           PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) DESTDIR=$(DESTDIR)"
	@echo "make deb               the Debian package in build/ (packaging/debian)"

deps:
	@tools/deps.sh packaging/deps.txt

$(O)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(O)/varvault: $(VARVAULT_OBJ) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(VARVAULT_LIBS)

$(O)/varvault-admin: $(ADMIN_OBJ) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ADMIN_LIBS)

$(O)/varvaultd: $(O)/obj/src/daemon/varvaultd.o $(DAEMON_OBJ) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/obj-testhooks/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $< (test hooks)"
	$(Q)$(CC) $(ALL_CFLAGS) -DVV_TEST_HOOKS=1 -c $< -o $@

$(TESTHOOKS_BIN): $(DAEMON_TEST_OBJ) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/tests/test_daemon: $(O)/obj/tests/unit/test_daemon.o $(DAEMON_OBJ) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

$(O)/tests/test_memneed: $(O)/obj/tests/unit/test_memneed.o $(DAEMON_OBJ) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

$(O)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -Wno-missing-prototypes -c $< -o $@

$(O)/tests/test_%: $(O)/obj/tests/unit/test_%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

# The CLI's helpers (passphrases, dispatch) are tested against the CLI
# objects.
$(O)/tests/test_cli: $(O)/obj/tests/unit/test_cli.o $(CLI_OBJ) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

# Core's output files are tested with the system calls they make wrapped,
# so that the test can make them fail.
OUTFILE_TEST_WRAPS := open write close pwrite umask mkostemp rename
$(O)/tests/test_outfile: $(O)/obj/tests/unit/test_outfile.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) $(OUTFILE_TEST_WRAPS:%=-Wl,--wrap=%) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

# The VCF pipeline and the model loader under failing allocations: malloc,
# calloc and realloc wrapped so that the test can make each one fail.
OOM_WRAPS := malloc calloc realloc
$(O)/tests/test_oom: $(O)/obj/tests/unit/test_oom.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) $(OOM_WRAPS:%=-Wl,--wrap=%) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

# The c4gh wipe test sees every explicit wipe through a wrapped
# sodium_memzero (tests/unit/test_c4gh_wipe.c).
$(O)/tests/test_c4gh_wipe: $(O)/obj/tests/unit/test_c4gh_wipe.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -Wl,--wrap=sodium_memzero -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)

# The audit report renderer lives in the client; its test and helper link
# its object.
$(O)/tests/test_audit_report: $(O)/obj/tests/unit/test_audit_report.o $(O)/obj/src/cli/audit_report.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TEST_LIBS) $(PKG_LIBS)
$(O)/tests/helpers/audit_render: $(O)/obj/tests/helpers/audit_render.o $(O)/obj/src/cli/audit_report.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/tests/replay_%: $(O)/obj/tests/fuzz/%.o $(O)/obj/tests/fuzz/replay_main.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/tests/helpers/%: $(O)/obj/tests/helpers/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/bench/%: $(O)/obj/bench/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/obj/bench/%.o: bench/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c $< -o $@

test: check
check: deps
	@$(MAKE) --no-print-directory $(PROGS) $(UNIT_BIN) $(REPLAY_BIN) $(HELPER_BIN) $(TESTHOOKS_BIN)
	@O=$(O) PYTHON=$(PYTHON) SANITIZE=$(SANITIZE) tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory SANITIZE=0 build/varvault build/varvault-admin build/varvaultd $(BENCH_SRC:bench/%.c=build/bench/%)
	@PYTHON=$(PYTHON) bench/run.sh

demo: deps
	@$(MAKE) --no-print-directory SANITIZE=0 build/varvault build/varvault-admin build/varvaultd
	@PYTHON=$(PYTHON) tools/demo.sh

# Mutation testing (tests/mutate.sh): slow, so not part of `make check`.
mutate: deps
	@PYTHON=$(PYTHON) tests/mutate.sh

# libFuzzer needs clang; its objects live apart in build/fuzz.
FUZZ_CC := clang
FUZZ_CFLAGS := $(STD_FLAGS) -Iinclude $(PKG_CFLAGS) -g -O1 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $< (fuzz)"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)
fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz.sh $(FUZZ_BIN)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(SYSCONFDIR)/varvault \
		$(DESTDIR)$(PREFIX)/share/varvault/models/demo-dna-mlm $(DESTDIR)$(PREFIX)/share/varvault/schema
	install -m 0755 $(O)/varvault $(DESTDIR)$(PREFIX)/bin/varvault
	install -m 0755 $(O)/varvault-admin $(DESTDIR)$(PREFIX)/sbin/varvault-admin
	install -m 0755 $(O)/varvaultd $(DESTDIR)$(PREFIX)/sbin/varvaultd
	install -d $(DESTDIR)$(PREFIX)/share/man/man5
	for m in docs/man/*.5; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man5/ || true; done
	[ -e $(DESTDIR)$(SYSCONFDIR)/varvault/access.conf ] || \
		install -m 0644 policy/access.conf $(DESTDIR)$(SYSCONFDIR)/varvault/access.conf
	for m in docs/man/*.1; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man1/ || true; done
	for m in docs/man/*.8; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man8/ || true; done
	[ -e $(DESTDIR)$(SYSCONFDIR)/varvault/evidence.conf ] || \
		install -m 0644 policy/evidence.conf $(DESTDIR)$(SYSCONFDIR)/varvault/evidence.conf
	install -m 0644 docs/schema/result.schema.json $(DESTDIR)$(PREFIX)/share/varvault/schema/
	[ -e $(DESTDIR)$(SYSCONFDIR)/varvault/varvaultd.conf ] || \
		install -m 0644 etc/varvaultd.conf $(DESTDIR)$(SYSCONFDIR)/varvault/varvaultd.conf
	install -d $(DESTDIR)$(PREFIX)/share/varvault/demo
	for f in demo/*; do [ -f "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(PREFIX)/share/varvault/demo/ || true; done
	for f in models/demo-dna-mlm/*; do [ -f "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(PREFIX)/share/varvault/models/demo-dna-mlm/ || true; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/varvault $(DESTDIR)$(PREFIX)/sbin/varvault-admin $(DESTDIR)$(PREFIX)/sbin/varvaultd
	rm -f $(DESTDIR)$(PREFIX)/share/man/man8/varvaultd.8 $(DESTDIR)$(PREFIX)/share/man/man5/varvaultd.conf.5
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/varvault.1 $(DESTDIR)$(PREFIX)/share/man/man8/varvault-admin.8
	rm -rf $(DESTDIR)$(PREFIX)/share/varvault

# The Debian package (packaging/debian), built from a clean copy of the
# working tree in build/deb so that the tree itself stays clean; the .deb and
# its -dbgsym land in build/.  DEB_VERSION=V builds the same tree as version
# V (the upgrade test's older package).
deb:
	@packaging/make-deb.sh $(DEB_VERSION)

clean:
	rm -rf build

# (Not under build/deb*, where the package build and its test chroots live.)
-include $(shell find build -path 'build/deb*' -prune -o -name '*.d' -type f -print 2>/dev/null)
