/* INI configuration from declarative tables.
 *
 * Each section is one X-macro list; the list generates the C struct and the field
 * table, and the table drives parsing, range checks, overrides and the dump, so a
 * key is declared exactly once:
 *
 *   #define ENV_FIELDS(X, S) \
 *       X(S, ENUM, kind, "objects3d", 0, 0, "objects3d|saccade", "which world") \
 *       X(S, INT,  size, "64",       32, 512, NULL, "image side in pixels")
 *   WM_CFG_STRUCT(EnvConfig, ENV_FIELDS);          (in a header)
 *   WM_CFG_FIELDS(EnvConfig, ENV_FIELDS);          (in one .c: EnvConfig_fields[])
 *
 * Types: INT (int), REAL (double), BOOL (int, true/false/1/0/yes/no/on/off),
 * STR (char[WM_CFG_STR_MAX]), ENUM (int, index into "a|b|c"). min/max apply to INT
 * and REAL (inclusive). A whole config is a struct of section structs, described by
 * a WmCfgSchema (section name, field table, offset of that section). */
#ifndef WM_CONFIG_H
#define WM_CONFIG_H

#include <stddef.h>

#include "alloc.h"

#define WM_CFG_STR_MAX 256

typedef enum { WM_CFG_INT, WM_CFG_REAL, WM_CFG_BOOL, WM_CFG_STR, WM_CFG_ENUM } WmCfgType;

typedef struct {
    const char *key;
    WmCfgType type;
    size_t offset;       /* within the section struct */
    const char *def;     /* default, as it would be written in the file */
    double min, max;     /* INT, REAL */
    const char *choices; /* ENUM: "a|b|c" */
    const char *help;
} WmCfgField;

typedef struct {
    const char *name;
    const WmCfgField *fields;
    int nfields;
    size_t offset; /* of the section struct within the whole config struct */
    int after_training; /* 1: keys read only after training (evaluation, reports): a run
                         * resumed under other values of them trains the same bits */
    const char *not_trained; /* NULL or keys, space-separated, that say where a run is or how
                              * fast it goes, not what it trains: a run resumes under other
                              * values of them */
} WmCfgSection;

typedef struct {
    const WmCfgSection *sections;
    int nsections;
} WmCfgSchema;

#define WM_CFG_CTYPE_INT int
#define WM_CFG_CTYPE_REAL double
#define WM_CFG_CTYPE_BOOL int
#define WM_CFG_CTYPE_STR char
#define WM_CFG_CTYPE_ENUM int
#define WM_CFG_CDIM_INT
#define WM_CFG_CDIM_REAL
#define WM_CFG_CDIM_BOOL
#define WM_CFG_CDIM_STR [WM_CFG_STR_MAX]
#define WM_CFG_CDIM_ENUM
#define WM_CFG_MEMBER_(S, T, name, def, lo, hi, choices, help) WM_CFG_CTYPE_##T name WM_CFG_CDIM_##T;
#define WM_CFG_ENTRY_(S, T, name, def, lo, hi, choices, help)                                      \
    {#name, WM_CFG_##T, offsetof(S, name), def, (double)(lo), (double)(hi), choices, help},

#define WM_CFG_STRUCT(Name, LIST) typedef struct { LIST(WM_CFG_MEMBER_, Name) } Name
#define WM_CFG_FIELDS(Name, LIST)                                                                  \
    const WmCfgField Name##_fields[] = {LIST(WM_CFG_ENTRY_, Name)};                              \
    const int Name##_nfields = (int)(sizeof(Name##_fields) / sizeof(Name##_fields[0]))
#define WM_CFG_FIELDS_DECL(Name)                                                                   \
    extern const WmCfgField Name##_fields[];                                                       \
    extern const int Name##_nfields

/* Sets every field to its default. A default that does not parse is a bug (asserts). */
void wm_cfg_defaults(const WmCfgSchema *schema, void *cfg);

/* The defaults of one section's struct: WM_CFG_DEFAULTS(EnvConfig, &c). */
void wm_cfg_section_defaults(const WmCfgField *fields, int nfields, void *cfg);
#define WM_CFG_DEFAULTS(Name, cfg) wm_cfg_section_defaults(Name##_fields, Name##_nfields, (cfg))

/* Applies an INI file on top of the current values. Errors name file and line:
 * unknown section or key, duplicate key, key before any section, missing '=',
 * bad number (end-pointer checked), bad bool or enum, out-of-range value.
 * Returns WM_OK or an error code with the message in err. */
int wm_cfg_load_file(const WmCfgSchema *schema, void *cfg, const char *path, char *err,
                     size_t errsz);
/* Same, from text in memory; name is used in messages in place of the path. */
int wm_cfg_load_string(const WmCfgSchema *schema, void *cfg, const char *text, const char *name,
                       char *err, size_t errsz);
/* Same, but sections the schema does not know are skipped whole (for reading the
 * part of a full run config that one module owns, e.g. from checkpoint metadata). */
int wm_cfg_load_sections(const WmCfgSchema *schema, void *cfg, const char *text, const char *name,
                         char *err, size_t errsz);
/* Applies one "section.key=value" (as typed on the command line). */
int wm_cfg_override(const WmCfgSchema *schema, void *cfg, const char *assignment, char *err,
                    size_t errsz);
/* Sets one field from text; `where` prefixes any error ("file.ini:12"). */
int wm_cfg_set(const WmCfgSchema *schema, void *cfg, const char *section, const char *key,
               const char *value, const char *where, char *err, size_t errsz);

/* Writes every section and key with its current value as INI text that loads back
 * to the same values (REAL in the fewest digits that do, see wm_fmt_real). Appends to
 * out. */
void wm_cfg_dump(const WmCfgSchema *schema, const void *cfg, WmBuf *out);
/* The same for the keys keep() accepts (keep gets the section, the field and the
 * whole config); a section with no key kept is left out, header included. Keys left
 * out load back as their defaults. */
typedef int (*WmCfgKeep)(const WmCfgSection *sec, const WmCfgField *f, const void *cfg, void *ctx);
void wm_cfg_dump_some(const WmCfgSchema *schema, const void *cfg, WmCfgKeep keep, void *ctx,
                      WmBuf *out);
/* Writes one field's current value as text. */
void wm_cfg_format_value(const WmCfgField *f, const void *section_struct, char *out, size_t outsz);
/* A "--help"-style listing of sections, keys, defaults, ranges and help text. */
void wm_cfg_describe(const WmCfgSchema *schema, WmBuf *out);

/* Lookup helpers (NULL when absent). */
const WmCfgSection *wm_cfg_find_section(const WmCfgSchema *schema, const char *name);
const WmCfgField *wm_cfg_find_field(const WmCfgSection *sec, const char *key);
/* The name of choice idx of an ENUM field ("" when out of range). */
const char *wm_cfg_enum_name(const WmCfgField *f, int idx, char *out, size_t outsz);

#endif
