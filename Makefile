# SCEP server: plain Makefile. `make` builds cgi-bin/scep and ./scep-admin.
# `make check` runs every test; `make demo` serves SCEP on 127.0.0.1:$(PORT).

CC	?= cc
PORT	?= 8080
WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CPPFLAGS += -D_GNU_SOURCE -I/usr/include/iniparser -Isrc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDLIBS	 = -lcrypto -lfcgi -liniparser -pthread
SANFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined

VERSION	 = $(shell cat VERSION)
# Installation (GNU names; DESTDIR is honoured everywhere). The programs look for
# /etc/scep/scep.conf whatever the PREFIX, so SYSCONFDIR stays /etc.
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share/scep
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
UNITDIR	?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# The library (src/*.c) is shared by both programs; src/admin/ holds scep-admin's commands.
MAINS	 = src/scep_main.c
LIBSRC	 = $(filter-out $(MAINS),$(wildcard src/*.c))
ADMSRC	 = $(wildcard src/admin/*.c)
HDRS	 = $(wildcard src/*.h src/admin/*.h)
OBJ	 = $(LIBSRC:src/%.c=build/obj/%.o)
SOBJ	 = $(LIBSRC:src/%.c=build/asan/obj/%.o)
ADMOBJ	 = $(ADMSRC:src/%.c=build/obj/%.o)
ADMSOBJ	 = $(ADMSRC:src/%.c=build/asan/obj/%.o)
UNITSRC	 = $(wildcard tests/unit/test_*.c)
UNITBIN	 = $(UNITSRC:tests/unit/%.c=build/asan/%)
# Under valgrind: the parsers (the CA and repository tests, slow there and fork()-based,
# run under ASan/LSan); the server program itself is run under valgrind by the script.
VGBIN	 = build/vg/test_http build/vg/test_config build/vg/test_pkimsg

.PHONY: all asan unit check demo install uninstall clean deps man-lint bench profile fuzz tools valgrind \
	fuzz-regress corpus load cluster-check cluster-load bench-cluster trust mutate
all: cgi-bin/scep scep-admin

build/obj/%.o: src/%.c $(HDRS) | build/obj
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
build/asan/obj/%.o: src/%.c $(HDRS) | build/asan/obj
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) $(SANFLAGS) -c -o $@ $<
# The version string of scep-admin --version.
build/obj/admin/main.o build/asan/obj/admin/main.o: CPPFLAGS += -DSCEP_VERSION='"$(VERSION)"'
build/obj/admin/main.o build/asan/obj/admin/main.o: VERSION
build/obj build/asan/obj:
	mkdir -p $@

build/libscep.a: $(OBJ)
	rm -f $@; ar rcs $@ $^
build/asan/libscep.a: $(SOBJ)
	rm -f $@; ar rcs $@ $^

cgi-bin/scep: src/scep_main.c build/libscep.a VERSION
	@mkdir -p cgi-bin
	$(CC) $(CPPFLAGS) -DSCEP_VERSION='"$(VERSION)"' $(CFLAGS) $(LDFLAGS) -o $@ $< build/libscep.a \
	    $(LDLIBS)
scep-admin: $(ADMOBJ) build/libscep.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(ADMOBJ) build/libscep.a $(LDLIBS)

# Sanitizer build used by `make check`: build/asan/scep, build/asan/scep-admin, unit tests.
asan: build/asan/scep build/asan/scep-admin $(UNITBIN)
build/asan/scep: src/scep_main.c build/asan/libscep.a VERSION
	$(CC) $(CPPFLAGS) -DSCEP_VERSION='"$(VERSION)"' -std=c11 $(WARN) $(SANFLAGS) -o $@ $< \
	    build/asan/libscep.a $(LDLIBS)
build/asan/scep-admin: $(ADMSOBJ) build/asan/libscep.a
	$(CC) $(SANFLAGS) -o $@ $(ADMSOBJ) build/asan/libscep.a $(LDLIBS)
build/asan/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) build/asan/libscep.a
	$(CC) $(CPPFLAGS) -Itests/unit -std=c11 $(WARN) $(SANFLAGS) -o $@ $< \
	    build/asan/libscep.a $(LDLIBS)

# Test-side tools (build and read SCEP messages; never linked with the server code).
tools: build/scepreq build/hostile build/nofsync.so build/scepbench build/fillrepo
build/scepreq: tests/tools/scepreq.c tests/unit/mkmsg.h | build/obj
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lcrypto
# LD_PRELOAD library that turns fsync(2) and friends into no-ops: the durability test
# must reject a build that runs with it.
build/nofsync.so: tests/load/nofsync.c | build/obj
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

# Unit tests without sanitizers, for valgrind.
build/vg/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) build/libscep.a
	@mkdir -p build/vg
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -o $@ $< build/libscep.a $(LDLIBS)

valgrind: all tools $(VGBIN)
	tests/run-valgrind.sh $(VGBIN)

# The bench's load generator and its repository filler (tests/load/).
build/scepbench: tests/load/scepbench.c tests/unit/mkmsg.h | build/obj
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lcrypto
build/fillrepo: tests/load/fillrepo.c | build/obj
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lcrypto

build/hostile: tests/hostile/hostile.c tests/unit/mkmsg.h | build/obj
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lcrypto

# libFuzzer targets (clang): the GET decoder, the pkiMessage parser, the config parser,
# and one target per layer of the pkiMessage parser that does no RSA (outer SignedData,
# signed attributes, envelope, decrypted content, CSR). `make fuzz` runs each layer
# target for FUZZ_RUNS executions, the others for FUZZ_SECONDS each; `make check` runs
# each briefly plus the regression inputs (tests/fuzz/crashes, seed corpora).
# Time for 10 million executions per layer target, measured with ASan+UBSan in CPU
# seconds of one core (tests/fuzz/crashes/README.md): outer ~100 min, attributes ~6 min,
# envelope ~10 min, content ~75 min, CSR ~100 min; FUZZ_JOBS=N divides it by the cores.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 10000000
FUZZ_LAYERS = fuzz_outer fuzz_attrs fuzz_envelope fuzz_content fuzz_csr
CHECK_FUZZ_SECONDS ?= 15
fuzz:
	FUZZ_TARGETS="$(FUZZ_LAYERS)" tests/fuzz/run.sh --runs $(FUZZ_RUNS)
	FUZZ_TARGETS="fuzz_pkimsg fuzz_getdecode fuzz_config" tests/fuzz/run.sh $(FUZZ_SECONDS)
fuzz-regress:
	tests/fuzz/run.sh --regress
corpus: tools
	tests/fuzz/mkcorpus.sh

deps:
	scripts/install-deps

# Unit tests under ASan/UBSan, then the integration suites (real nginx, Apache, CGI, clients).
# tests/suite.sh keeps each suite's output under tests/out/check/ and ends with the totals,
# skips and known failures listed (a skip is never counted as a pass).
SUITE	 = tests/suite.sh
check: deps all asan tools $(VGBIN)
	@$(SUITE) --reset
	$(SUITE) unit tests/run-unit.sh $(UNITBIN)
	$(SUITE) valgrind tests/run-valgrind.sh $(VGBIN)
	$(SUITE) admin tests/admin/t-admin.sh
	$(SUITE) mobileconfig tests/admin/t-mobileconfig.sh
	$(SUITE) privilege tests/admin/t-privilege.sh
	$(SUITE) policy tests/policy/t-policy.sh
	$(SUITE) shapes tests/policy/t-shapes.sh
	$(SUITE) hostile tests/hostile/run.sh
	$(SUITE) trust tests/trust/t-trust.sh
	$(SUITE) corpus tests/corpus/replay.sh
	$(SUITE) fuzz-regress tests/fuzz/run.sh --regress
	$(SUITE) fuzz tests/fuzz/run.sh $(CHECK_FUZZ_SECONDS)
	$(SUITE) integration tests/integration/run-all.sh
	$(SUITE) keystore tests/keystore/t-keystore.sh
	$(SUITE) load env LOAD_N=300 tests/load/load.sh
	$(SUITE) crash env CRASH_N=200 tests/load/crash.sh
	$(SUITE) fulldisk tests/load/fulldisk.sh
	$(SUITE) durability tests/load/durability.sh
	$(SUITE) renewal tests/renewal/t-renewal.sh
	$(SUITE) audit tests/governance/t-audit.sh
	$(SUITE) notify tests/governance/t-notify.sh
	$(SUITE) challenge-command tests/governance/t-challenge.sh
	$(SUITE) backup tests/governance/t-backup.sh
	$(SUITE) status tests/governance/t-status.sh
	$(SUITE) pool tests/service/t-pool.sh
	$(SUITE) reload tests/service/t-reload.sh
	$(SUITE) install tests/service/t-install.sh
	$(SUITE) lock tests/service/t-lock.sh
	$(SUITE) private tests/service/t-private.sh
	$(SUITE) tenants tests/service/t-tenants.sh
	$(SUITE) deb tests/service/t-deb.sh
	@$(SUITE) --report

# The trust suite (tests/trust/t-trust.sh): each finding of the trust issue through the
# real program; `make check` runs it.
trust: all asan tools
	tests/trust/t-trust.sh

# Mutation check: small deliberate bugs (tests/mutate/mutations.tsv), one at a time in a
# scratch copy of the tree; each must make one of its named suites fail.
mutate:
	tests/mutate/run.sh

unit: all asan
	tests/run-unit.sh $(UNITBIN)

# The full-size load, crash, full-disk and durability runs, the benchmark (tests/load/bench.sh:
# knobs BENCH_*, BENCH_FILL=1000000 for the filled repository) and the profile of enrollments
# (tests/load/profile.sh, output in tests/out/profile; needs strace, valgrind, linux-perf).
load: all asan tools
	tests/load/load.sh
	tests/load/crash.sh
	tests/load/fulldisk.sh
	DURA_LONG=1 tests/load/durability.sh

bench: all tools
	tests/load/bench.sh
profile: all tools
	tests/load/profile.sh

# Several nodes on one GlusterFS volume (tests/cluster/; root, FUSE and GlusterFS needed):
# a short run of every scenario, the full-size one, and the shared-FS benchmark (local
# disk, one node and two nodes on the volume).
cluster-check: deps all asan tools
	CLUSTER_N=200 CLUSTER_CRASH_N=100 tests/cluster/cluster.sh
cluster-load: deps all asan tools
	tests/cluster/cluster.sh
bench-cluster: deps all tools
	tests/cluster/bench.sh

demo: deps all
	PORT=$(PORT) scripts/demo

man-lint:
	mandoc -Tlint -Wwarning man/*.[0-9]

# `make install` lays out what the Debian package installs (see debian/ and
# apache-conf/README.md): the programs, man pages, systemd units, tmpfiles.d and sysusers.d
# entries, a logrotate file, the web-server configurations (also as inactive
# sites-available/conf-available entries), a sample /etc/scep/scep.conf and the state
# directories. Files an administrator edits (the configuration, the web-server entries)
# are never overwritten. Run as root without DESTDIR, it also creates the `scep` user and
# the directories with their owners (systemd-sysusers, systemd-tmpfiles).
INSTALL_UNITS = scep@.service scep@.socket scep-crl@.service scep-crl@.timer
WEBCONF	 = nginx-scep.conf nginx-scep-tenants.conf apache-scep-fcgid.conf apache-scep-proxy-fcgi.conf \
	   apache-scep-tenants.conf apache-scep-cgi.conf apache-scep-pki.conf
SUBST	 = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|/usr/local/sbin/|$(SBINDIR)/|g'
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/logrotate.d \
	    $(DESTDIR)$(SYSCONFDIR)/nginx/sites-available $(DESTDIR)$(SYSCONFDIR)/apache2/conf-available
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/scep
	install -d -m 0750 $(DESTDIR)$(LOCALSTATEDIR)/lib/scep $(DESTDIR)$(LOCALSTATEDIR)/log/scep
	install -m 0755 cgi-bin/scep scep-admin $(DESTDIR)$(SBINDIR)/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	for u in $(INSTALL_UNITS); do \
	    $(SUBST) systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 systemd/scep.tmpfiles $(DESTDIR)$(TMPFILESDIR)/scep.conf
	install -m 0644 systemd/scep.sysusers $(DESTDIR)$(SYSUSERSDIR)/scep.conf
	install -m 0644 systemd/scep.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/scep
	for f in $(WEBCONF); do \
	    $(SUBST) apache-conf/$$f >$(DESTDIR)$(DATADIR)/$$f && chmod 0644 $(DESTDIR)$(DATADIR)/$$f || exit 1; \
	done
	install -m 0644 repo-layout/scep.conf.sample $(DESTDIR)$(DATADIR)/scep.conf.sample
	test -e $(DESTDIR)$(SYSCONFDIR)/nginx/sites-available/scep || \
	    install -m 0644 $(DESTDIR)$(DATADIR)/nginx-scep.conf $(DESTDIR)$(SYSCONFDIR)/nginx/sites-available/scep
	test -e $(DESTDIR)$(SYSCONFDIR)/apache2/conf-available/scep.conf || \
	    install -m 0644 $(DESTDIR)$(DATADIR)/apache-scep-proxy-fcgi.conf \
	    $(DESTDIR)$(SYSCONFDIR)/apache2/conf-available/scep.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/scep/scep.conf || \
	    install -m 0640 repo-layout/scep.conf.sample $(DESTDIR)$(SYSCONFDIR)/scep/scep.conf
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    set -e; \
	    if command -v systemd-sysusers >/dev/null; then systemd-sysusers $(SYSUSERSDIR)/scep.conf; \
	    elif ! id scep >/dev/null 2>&1; then \
	        adduser --system --group --home $(LOCALSTATEDIR)/lib/scep --no-create-home scep; fi; \
	    chgrp scep $(SYSCONFDIR)/scep/scep.conf; \
	    if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create $(TMPFILESDIR)/scep.conf; \
	    else chown scep:scep $(LOCALSTATEDIR)/lib/scep; chown scep:adm $(LOCALSTATEDIR)/log/scep; fi; \
	    echo "install: user scep, $(LOCALSTATEDIR)/lib/scep (the repository), $(SYSCONFDIR)/scep/scep.conf ready:"; \
	    echo "  scep-admin init --subject '/CN=Example SCEP CA/O=Example'   (as root; it becomes scep)"; \
	fi

# Removes what `make install` put in place, except what holds data or local edits: the
# configuration, the repository and logs, the `scep` user, and web-server entries that
# were changed after installation.
uninstall:
	for f in nginx/sites-available/scep:nginx-scep.conf \
	    apache2/conf-available/scep.conf:apache-scep-proxy-fcgi.conf; do \
	    e=$(DESTDIR)$(SYSCONFDIR)/$${f%%:*}; \
	    if cmp -s $$e $(DESTDIR)$(DATADIR)/$${f#*:}; then rm -f $$e; \
	    elif [ -e $$e ]; then echo "uninstall: $$e was edited: kept"; fi; \
	done
	rm -f $(DESTDIR)$(SBINDIR)/scep $(DESTDIR)$(SBINDIR)/scep-admin \
	    $(DESTDIR)$(MANDIR)/man8/scep.8 $(DESTDIR)$(MANDIR)/man8/scep-admin.8 \
	    $(DESTDIR)$(MANDIR)/man5/scep.conf.5 \
	    $(addprefix $(DESTDIR)$(UNITDIR)/,$(INSTALL_UNITS)) \
	    $(DESTDIR)$(TMPFILESDIR)/scep.conf $(DESTDIR)$(SYSUSERSDIR)/scep.conf \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d/scep
	rm -rf $(DESTDIR)$(DATADIR)
	@echo "uninstall: kept $(SYSCONFDIR)/scep, $(LOCALSTATEDIR)/lib/scep, $(LOCALSTATEDIR)/log/scep and the scep user"

clean:
	rm -rf build cgi-bin/scep scep-admin
