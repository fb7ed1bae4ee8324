# The nn_* engine sources compiled a second time in double precision (NnReal =
# double) for the finite-difference gradient tests; only test_nn_grad links them.
NN_DBL_SRC := $(wildcard nn/nn_*.c)
NN_DBL_OBJ := $(NN_DBL_SRC:nn/%.c=$(BUILD)/nn/double/%.o)

$(BUILD)/nn/double/%.o: nn/%.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (double)"
	@$(CC) $(CFLAGS) -DNN_REAL_DOUBLE -c $< -o $@

$(BUILD)/tests/test_nn_grad.o: tests/test_nn_grad.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (double)"
	@$(CC) $(CFLAGS) -DNN_REAL_DOUBLE -c $< -o $@

$(BUILD)/tests/test_nn_grad: $(BUILD)/tests/test_nn_grad.o $(NN_DBL_OBJ) $(LIB)
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS) $< $(NN_DBL_OBJ) $(LIB) $(LDLIBS) -o $@

-include $(NN_DBL_OBJ:.o=.d)

# The engine's elementwise kernels are memory-bound loops that gcc vectorises only
# at -O3 (release builds; debug and asan keep their own levels).
ifeq ($(MODE),release)
$(BUILD)/nn/nn_%.o: CFLAGS += -O3
endif

# The direct convolution's multiply-adds are meant to be FMAs (see nn_direct.c).
$(BUILD)/nn/nn_direct.o $(BUILD)/nn/double/nn_direct.o: CFLAGS += -ffp-contract=fast

# AdamW's square root must be an instruction for its loop to vectorise; nothing in the
# file reads errno.
$(BUILD)/nn/nn_params.o $(BUILD)/nn/double/nn_params.o: CFLAGS += -fno-math-errno
