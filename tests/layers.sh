#!/bin/sh
# The include-direction check: every #include "DIR/file.h" in a source or header of
# folder F must name F itself or a folder listed before F. The order is given once,
# in the Makefile's LAYERS, which calls: sh tests/layers.sh core render ... cli
# Also fails when a folder holding C sources is missing from the list (tests/ and
# build/ excepted). Prints each offending line and a closing count.
if [ $# = 0 ]; then
  echo "usage: layers.sh LAYER... (lowest first)" >&2
  exit 2
fi
dirs=$(find . -mindepth 2 -maxdepth 2 -name '*.[ch]' | cut -d/ -f2 | sort -u | grep -v -x -e tests -e build)
files=$(for d in $dirs; do ls "$d"/*.[ch]; done)
# shellcheck disable=SC2086
awk -v order="$*" -v dirs="$dirs" '
BEGIN {
    n = split(order, l, " ")
    for (i = 1; i <= n; i++) rank[l[i]] = i
    split(dirs, ds, "\n")
    for (i in ds) if (ds[i] != "" && !(ds[i] in rank)) {
        printf "layers: %s/ holds C sources but is not in LAYERS (Makefile)\n", ds[i]
        bad++
    }
}
FNR == 1 { nfiles++; split(FILENAME, p, "/"); from = p[1] }
/^[ \t]*#[ \t]*include[ \t]*"[^"\/]*\// {
    s = $0
    sub(/^[^"]*"/, "", s)
    sub(/\/.*/, "", s)
    incs++
    if (!(s in rank)) {
        printf "%s:%d: includes from %s/, which is not a layer\n", FILENAME, FNR, s
        bad++
    } else if (rank[s] > rank[from]) {
        printf "%s:%d: includes from %s/, a layer above %s/ (order: %s)\n", FILENAME, FNR, s, from, order
        bad++
    }
}
END {
    printf "layers: %d files, %d includes checked, %d against the order\n", nfiles, incs, bad
    exit bad > 0
}' $files
