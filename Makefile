# seqjepa: one static library from the library layers, one executable bin/seqjepa
# from bench/ and cli/, one program per tests/test_*.c.
#
#   make            build (release: -O2)       make test    deps + build + all tests
#   make debug      -O0 build in build/debug   make asan    ASan+UBSan build, non-GL tests
#   make demo       deps + build + train the quick objects3d preset + eval
#   make bench      quick benchmarks (FULL=1: every benchmark at full length)
#   make python     libseqjepa.so for the Python package in python/seqjepa/
#
# Every target that builds first installs what is missing (.ci/deps.sh) and then builds
# in a fresh $(MAKE): pkg-config below runs when make reads this file, so only a make
# started after the install sees the packages it installed.
# Folders may add rules in their own module.mk (included below).

VERSION := 0.1.0
MODE ?= release
CC := gcc
BUILD := build/$(MODE)

PKGS := sdl2 glew egl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Expanded in LDLIBS, so at each link: stop with pkg-config's own message when it found
# nothing, rather than link without SDL, EGL and GLEW.
pkg_check = $(if $(PKG_LIBS),,$(error pkg-config --libs $(PKGS): \
  $(shell pkg-config --libs $(PKGS) 2>&1 | head -n 1) Run 'make deps' (as root it installs them)))

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wvla
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -I. $(PKG_CFLAGS) -MMD -MP -pthread \
               -DSEQJEPA_VERSION='"$(VERSION)"'
ifeq ($(MODE),release)
  OPT := -O2 -g
else ifeq ($(MODE),debug)
  OPT := -O0 -g3
else ifeq ($(MODE),asan)
  OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
  $(error MODE must be release, debug or asan)
endif
CFLAGS := $(BASE_CFLAGS) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) -pthread
LDLIBS = $(pkg_check)$(PKG_LIBS) -lGL -lopenblas -ldnnl -lgomp -lstb -lm

# The layers, lowest first: a file may include headers of its own folder and of the
# folders before it, never of one after it (`make layers`, part of `make test`).
LAYERS := core render envs agents data nn model run viewer bench cli capi
EXE_DIRS := bench cli
# capi/: the C interface of the shared library (capi/module.mk, `make python`).
LIB_DIRS := $(filter-out $(EXE_DIRS) capi,$(LAYERS))
LIB_SRC := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
CLI_SRC := $(foreach d,$(EXE_DIRS),$(wildcard $(d)/*.c))
TEST_SRC := $(wildcard tests/test_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB := $(BUILD)/libseqjepa.a
ifeq ($(MODE),release)
  EXE := bin/seqjepa
else
  EXE := $(BUILD)/bin/seqjepa
endif

.PHONY: all build debug asan test demo bench deps test-deps clean format tests layers
# Keep objects of test programs (make would delete them as intermediates).
.SECONDARY:
all: deps
	@$(MAKE) --no-print-directory MODE=$(MODE) build

# The build alone, without the package check (what the targets above run in a fresh make).
build: $(EXE) tests

tests: $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(EXE): $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB)
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# Installs missing Debian packages (as root) or says exactly what to install.
deps:
	@sh .ci/deps.sh build
test-deps:
	@sh .ci/deps.sh test

# Fails when a file includes a header from a layer above its own.
layers:
	@sh tests/layers.sh $(LAYERS)

test: test-deps layers
	@$(MAKE) --no-print-directory MODE=$(MODE) build
	@sh tests/run.sh $(BUILD)/tests $(EXE)

debug: deps
	@$(MAKE) --no-print-directory MODE=debug build

# Address + UndefinedBehavior sanitizers over every test that does not need OpenGL.
asan: test-deps
	@$(MAKE) --no-print-directory MODE=asan build
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tests/run.sh --no-gl build/asan/tests build/asan/bin/seqjepa

demo: deps
	@$(MAKE) --no-print-directory MODE=$(MODE) $(EXE)
	@sh .ci/demo.sh $(EXE)

# Quick by default: every benchmark of 'bench all' cut short (ops: the sgemm rates only),
# to check that all of it runs and roughly how fast; FULL=1 runs 'seqjepa bench all'.
BENCH_QUICK := 'ops --sgemm' 'render --seconds 0.5' \
  'saccade --seconds 0.2' 'train --steps 2 --only quick --no-torch' 'gen --seqs 512 --seconds 1 --rounds 1'
bench: deps
	@$(MAKE) --no-print-directory MODE=$(MODE) $(EXE)
ifeq ($(FULL),1)
	$(EXE) bench all
else
	@rc=0; for b in $(BENCH_QUICK); do echo "== seqjepa bench $$b"; \
	  $(EXE) bench $$b || rc=1; done; exit $$rc
endif

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(wildcard */*.h)

clean:
	rm -rf build bin

-include $(wildcard */module.mk)
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d)
