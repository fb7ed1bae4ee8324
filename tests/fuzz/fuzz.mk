# Fuzzing the readers of every file format (harnesses in tests/fuzz/fuzz_*.c).
#
#   make test / make asan   also build $(BUILD)/tests/test_fuzz, which replays every file
#                           of tests/fuzz/<harness>/ under AddressSanitizer + UBSan (gcc)
#   make fuzz               libFuzzer (clang) on each harness for FUZZ_TIME seconds;
#                           inputs that crash land in tests/fuzz/crashes/
#   make fuzz FUZZ_NAMES="json npy" FUZZ_TIME=600 FUZZ_NICE="nice -n 15"
#
# The sources the harnesses exercise are compiled again with the sanitizers; the rest
# of the program comes from this mode's library.

FUZZ_NAMES ?= config obj npy safetensors json dataset image script
FUZZ_TIME ?= 60
FUZZ_NICE ?= nice -n 10
FUZZ_CLANG ?= clang
# Harnesses write temporary files (and fsync what they write back): memory is faster.
FUZZ_TMP ?= $(if $(wildcard /dev/shm),/dev/shm,$(CURDIR)/build/fuzz/tmp)

FZ_SRC := $(wildcard core/*.c) render/obj.c $(wildcard data/ds_*.c) \
          envs/saccade.c run/runcfg.c
FZ_HARNESS := $(wildcard tests/fuzz/fuzz_*.c)
FZ_SAN := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# ---- replay under gcc's sanitizers (part of `tests`)
FZR := $(BUILD)/fuzz-replay
FZR_OBJ := $(FZ_SRC:%.c=$(FZR)/%.o) $(FZ_HARNESS:%.c=$(FZR)/%.o) $(FZR)/tests/fuzz/replay.o
FZR_STB := $(FZR)/tests/fuzz/stb_image_impl.o

$(FZR)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (fuzz replay)"
	@$(CC) $(BASE_CFLAGS) $(FZ_SAN) -c $< -o $@

# Third-party code: its own warnings are not ours to fix.
$(FZR_STB): tests/fuzz/stb_image_impl.c
	@mkdir -p $(dir $@)
	@$(CC) $(BASE_CFLAGS) -w $(FZ_SAN) -c $< -o $@

$(BUILD)/tests/test_fuzz: $(FZR_OBJ) $(FZR_STB) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LINK  $@"
	@$(CC) $(FZ_SAN) -pthread $(FZR_OBJ) $(FZR_STB) $(LIB) $(LDLIBS) -o $@

tests: $(BUILD)/tests/test_fuzz

-include $(FZR_OBJ:.o=.d)

# ---- libFuzzer (clang), this mode's library for everything not under test
FZF := build/fuzz
FZF_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer -DFUZZ_LIBFUZZER
# clang warns about other things than gcc; gcc's -Werror build is the one that gates.
FZF_CFLAGS := $(filter-out -Werror -MMD -MP,$(BASE_CFLAGS)) -Wno-unknown-warning-option
FZF_LIB_OBJ := $(FZ_SRC:%.c=$(FZF)/obj/%.o) $(FZF)/obj/tests/fuzz/stb_image_impl.o

$(FZF)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CLANG $<"
	@$(FUZZ_CLANG) $(FZF_CFLAGS) -MMD -MP $(FZF_FLAGS) -c $< -o $@

$(FZF)/obj/tests/fuzz/stb_image_impl.o: tests/fuzz/stb_image_impl.c
	@mkdir -p $(dir $@)
	@$(FUZZ_CLANG) $(FZF_CFLAGS) -w $(FZF_FLAGS) -c $< -o $@

$(FZF)/fuzz_%: $(FZF)/obj/tests/fuzz/fuzz_%.o $(FZF_LIB_OBJ) $(LIB)
	@echo "  LINK  $@"
	@$(FUZZ_CLANG) -fsanitize=fuzzer,address,undefined -pthread $^ $(LDLIBS) -o $@

.PHONY: fuzz fuzz-build fuzz-deps
fuzz-deps:
	@sh .ci/deps.sh fuzz
fuzz-build: fuzz-deps $(FUZZ_NAMES:%=$(FZF)/fuzz_%)

# Each harness: the committed corpus (read only) plus a working corpus in build/fuzz/.
fuzz: fuzz-build
	@mkdir -p tests/fuzz/crashes $(FUZZ_TMP)
	@found=0; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FZF)/corpus/$$n; \
	  TMPDIR=$(FUZZ_TMP) $(FUZZ_NICE) $(FZF)/fuzz_$$n -max_total_time=$(FUZZ_TIME) \
	    -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/crashes/$$n- $(FZF)/corpus/$$n tests/fuzz/$$n \
	    >$(FZF)/$$n.log 2>&1 || found=1; \
	  printf '%-12s %s\n' $$n "$$(grep -E '^Done [0-9]+ runs' $(FZF)/$$n.log || \
	    grep -E 'ERROR|SUMMARY|Test unit written' $(FZF)/$$n.log | head -3)"; \
	done; \
	if [ $$found = 1 ]; then echo "crashing inputs in tests/fuzz/crashes/ (logs in $(FZF)/*.log);" \
	  "once fixed, move each into tests/fuzz/<harness>/ as a regression file"; exit 1; fi

-include $(FZF_LIB_OBJ:.o=.d) $(FUZZ_NAMES:%=$(FZF)/obj/tests/fuzz/fuzz_%.d)

# ---- seed corpora (written by the program; committed)
$(BUILD)/tests/fuzz_seeds: $(BUILD)/tests/fuzz/seeds.o $(LIB)
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

.PHONY: fuzz-seeds
fuzz-seeds: $(BUILD)/tests/fuzz_seeds $(EXE)
	@sh tests/fuzz/make_seeds.sh $(EXE) $(BUILD)/tests/fuzz_seeds
