# Fuzzing: harnesses, corpus replay and `make fuzz` (see tests/fuzz/fuzz.mk).
include tests/fuzz/fuzz.mk
