# SCEP server: plain Makefile. `make` builds cgi-bin/scep and ./scep-admin.
# `make check` runs every test; `make demo` serves SCEP on 127.0.0.1:$(PORT).

CC	?= cc
PORT	?= 8080
WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CPPFLAGS += -D_GNU_SOURCE -I/usr/include/iniparser -Isrc
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDLIBS	 = -lcrypto -lfcgi -liniparser
SANFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined

PREFIX	?= /usr/local
# The library (src/*.c) is shared by both programs; src/admin/ holds scep-admin's commands.
MAINS	 = src/scep_main.c src/admin_main.c
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

.PHONY: all asan unit check demo install clean deps man-lint bench fuzz tools valgrind fuzz-regress corpus load \
	trust mutate
all: cgi-bin/scep scep-admin

build/obj/%.o: src/%.c $(HDRS) | build/obj
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
build/asan/obj/%.o: src/%.c $(HDRS) | build/asan/obj
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) $(SANFLAGS) -c -o $@ $<
build/obj build/asan/obj:
	mkdir -p $@

build/libscep.a: $(OBJ)
	rm -f $@; ar rcs $@ $^
build/asan/libscep.a: $(SOBJ)
	rm -f $@; ar rcs $@ $^

cgi-bin/scep: src/scep_main.c build/libscep.a
	@mkdir -p cgi-bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< build/libscep.a $(LDLIBS)
scep-admin: src/admin_main.c $(ADMOBJ) build/libscep.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(ADMOBJ) build/libscep.a $(LDLIBS)

# Sanitizer build used by `make check`: build/asan/scep, build/asan/scep-admin, unit tests.
asan: build/asan/scep build/asan/scep-admin $(UNITBIN)
build/asan/scep: src/scep_main.c build/asan/libscep.a
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) $(SANFLAGS) -o $@ $< build/asan/libscep.a $(LDLIBS)
build/asan/scep-admin: src/admin_main.c $(ADMSOBJ) build/asan/libscep.a
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) $(SANFLAGS) -o $@ $< $(ADMSOBJ) build/asan/libscep.a \
	    $(LDLIBS)
build/asan/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) build/asan/libscep.a
	$(CC) $(CPPFLAGS) -Itests/unit -std=c11 $(WARN) $(SANFLAGS) -o $@ $< \
	    build/asan/libscep.a $(LDLIBS)

# Test-side tools (build and read SCEP messages; never linked with the server code).
tools: build/scepreq build/hostile
build/scepreq: tests/tools/scepreq.c tests/unit/mkmsg.h | build/obj
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lcrypto

# Unit tests without sanitizers, for valgrind.
build/vg/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) build/libscep.a
	@mkdir -p build/vg
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -o $@ $< build/libscep.a $(LDLIBS)

valgrind: all tools $(VGBIN)
	tests/run-valgrind.sh $(VGBIN)

build/hostile: tests/hostile/hostile.c tests/unit/mkmsg.h | build/obj
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lcrypto

# libFuzzer targets (clang): the GET decoder, the pkiMessage parser, the config parser.
# `make fuzz` runs each for FUZZ_SECONDS; `make check` runs each briefly plus the
# regression inputs (tests/fuzz/crashes, seed corpora).
FUZZ_SECONDS ?= 60
CHECK_FUZZ_SECONDS ?= 15
fuzz:
	tests/fuzz/run.sh $(FUZZ_SECONDS)
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
	$(SUITE) corpus tests/corpus/replay.sh
	$(SUITE) fuzz-regress tests/fuzz/run.sh --regress
	$(SUITE) fuzz tests/fuzz/run.sh $(CHECK_FUZZ_SECONDS)
	$(SUITE) integration tests/integration/run-all.sh
	$(SUITE) load env LOAD_N=300 tests/load/load.sh
	$(SUITE) crash env CRASH_N=200 tests/load/crash.sh
	$(SUITE) fulldisk tests/load/fulldisk.sh
	@$(SUITE) --report

# The trust suite (tests/trust/t-trust.sh): each finding of the trust issue through the
# real program. Not in `make check` until the fixes land: it fails on purpose before.
trust: all asan tools
	tests/trust/t-trust.sh

# Mutation check: small deliberate bugs (tests/mutate/mutations.tsv), one at a time in a
# scratch copy of the tree; each must make one of its named suites fail.
mutate:
	tests/mutate/run.sh

unit: all asan
	tests/run-unit.sh $(UNITBIN)

# The full-size load, crash and full-disk runs (issue 5), and the benchmark.
load: all asan tools
	tests/load/load.sh
	tests/load/crash.sh
	tests/load/fulldisk.sh

bench: all tools
	tests/load/bench.sh

demo: deps all
	PORT=$(PORT) scripts/demo

man-lint:
	mandoc -Tlint -Wwarning man/*.[0-9]

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/cgi-bin $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 cgi-bin/scep $(DESTDIR)$(PREFIX)/lib/cgi-bin/scep
	install -m 0755 scep-admin $(DESTDIR)$(PREFIX)/sbin/scep-admin
	install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/

clean:
	rm -rf build cgi-bin/scep scep-admin
