# MPI (core/dist.c): built in when mpicc is found, unless NO_MPI=1; only dist.c sees
# mpi.h, every program links the MPI library. A stamp file holds the flags so that
# switching MPI on or off rebuilds dist.c.
ifneq ($(NO_MPI),1)
  MPICC_FOUND := $(shell command -v mpicc 2>/dev/null)
endif
ifneq ($(MPICC_FOUND),)
  MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null) -DSEQJEPA_MPI=1
  MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null)
endif
MPI_STAMP := $(BUILD)/mpi.flags
$(shell mkdir -p $(BUILD) && echo '$(MPI_CFLAGS)' | cmp -s - $(MPI_STAMP) || echo '$(MPI_CFLAGS)' > $(MPI_STAMP))
$(BUILD)/core/dist.o $(BUILD)/pic/core/dist.o: CFLAGS += $(MPI_CFLAGS)
$(BUILD)/core/dist.o $(BUILD)/pic/core/dist.o: $(MPI_STAMP)
LDLIBS += $(MPI_LIBS)
