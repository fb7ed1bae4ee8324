# libseqjepa.so for the Python package (python/seqjepa/): the library's layers and
# capi/ compiled position-independent, as objects of their own under $(BUILD)/pic, and
# linked with only the sjc_* interface of capi/seqjepa.h exported (capi/exports.map).
# `make python` builds it and copies it next to the package; `make test` does too.
PIC_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
CAPI_OBJ := $(patsubst %.c,$(BUILD)/pic/%.o,$(wildcard capi/*.c))
PIC_LIB := $(BUILD)/pic/libseqjepa.a
SO := $(BUILD)/libseqjepa.so
PY_SO := python/seqjepa/libseqjepa.so

.PHONY: python python-build

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (pic)"
	@$(CC) $(CFLAGS) -fPIC -c $< -o $@

# The same per-file flags as nn/module.mk gives the static library's objects.
ifeq ($(MODE),release)
$(BUILD)/pic/nn/nn_%.o: CFLAGS += -O3
endif
$(BUILD)/pic/nn/nn_direct.o: CFLAGS += -ffp-contract=fast

$(PIC_LIB): $(PIC_LIB_OBJ)
	@rm -f $@ && ar rcs $@ $^

$(SO): $(CAPI_OBJ) $(PIC_LIB) capi/exports.map
	@echo "  LINK  $@"
	@$(CC) -shared $(LDFLAGS) -Wl,--as-needed -Wl,--version-script=capi/exports.map -Wl,-z,defs $(CAPI_OBJ) \
	  $(PIC_LIB) $(LDLIBS) -o $@

$(PY_SO): $(SO)
	@cp $< $@.tmp && mv $@.tmp $@

# As the Makefile's other targets: install what is missing, then build in a fresh make.
python: deps
	@$(MAKE) --no-print-directory MODE=$(MODE) python-build
python-build: $(PY_SO)

# The Python tests (tests/test_py_*.py) load python/seqjepa/libseqjepa.so.
ifeq ($(MODE),release)
test: python
endif

-include $(PIC_LIB_OBJ:.o=.d) $(CAPI_OBJ:.o=.d)
