/* A FIX data dictionary in the QuickFIX XML format (fields, enums,
 * components, messages, repeating groups), flattened into index-based
 * arrays: components are expanded in place, so a message or a group is one
 * "layout", a contiguous run of entries in dictionary order. Being pointer
 * free, the same arrays are what fix_dict_load builds from XML (expat) at run
 * time and what the build-time generator (fix_dict_gen) emits as a C table
 * for the default FIX 4.4 dictionary. A loaded dictionary is immutable and
 * may be read from any thread; it is reference counted because the I/O
 * thread validates inbound messages with it. */
#ifndef BT_FIX_DICT_H
#define BT_FIX_DICT_H

#include <stddef.h>
#include <stdint.h>

struct fix_msg;

enum fix_dict_type {
	FIX_T_STRING = 0, /* anything not listed below */
	FIX_T_CHAR,
	FIX_T_INT, /* INT, LENGTH, SEQNUM, TAGNUM, DAYOFMONTH */
	FIX_T_NUMINGROUP,
	FIX_T_FLOAT, /* FLOAT, PRICE, QTY, AMT, PRICEOFFSET, PERCENTAGE */
	FIX_T_BOOLEAN,
	FIX_T_UTCTIMESTAMP,
	FIX_T_DATA,
	FIX_T_MULTI,     /* MULTIPLEVALUESTRING: space-separated enum values */
	FIX_T_DATE,      /* UTCDATEONLY, LOCALMKTDATE: YYYYMMDD */
	FIX_T_TIMEONLY,  /* UTCTIMEONLY: HH:MM:SS[.sss] */
	FIX_T_MONTHYEAR, /* YYYYMM, YYYYMMDD or YYYYMMwN */
};

struct fix_dict_field {
	uint32_t tag;
	uint32_t name;     /* offset in strings */
	uint32_t type;     /* enum fix_dict_type */
	uint32_t tname;    /* offset in strings: the XML type name ("PRICE") */
	uint32_t enum_off; /* first of enum_n entries in enums */
	uint32_t enum_n;
};

struct fix_dict_enum {
	uint32_t value; /* offset in strings: wire value ("1") */
	uint32_t name;  /* offset in strings: description ("BUY") */
};

/* One member of a layout: a field, or a group (its count field) whose
 * instances follow the layout `group`. */
struct fix_dict_entry {
	uint32_t field; /* index in fields */
	int32_t group;  /* index in layouts, or -1 */
	uint32_t required;
};

struct fix_dict_layout {
	uint32_t first, n; /* entries[first .. first+n), dictionary order */
	/* by_tag[tag_off .. tag_off+n): entry indices (relative to first)
	 * sorted by tag, for lookups while parsing */
	uint32_t tag_off;
	/* required[req_off .. req_off+req_n): the required members (entry
	 * indices, in dictionary order), so that a check skips the others */
	uint32_t req_off, req_n;
};

struct fix_dict_message {
	uint32_t name;     /* offset in strings */
	uint32_t msg_type; /* offset in strings */
	uint32_t layout;
	uint32_t admin; /* msgcat='admin' */
};

struct fix_dict {
	const char *strings; /* NUL-terminated strings, addressed by offset */
	uint32_t nstrings;   /* bytes */
	const struct fix_dict_field *fields;
	uint32_t nfields;
	const uint32_t *fields_by_tag;  /* field indices sorted by tag */
	const uint32_t *fields_by_name; /* field indices sorted by name */
	const struct fix_dict_enum *enums;
	uint32_t nenums;
	const struct fix_dict_entry *entries;
	uint32_t nentries;
	const uint32_t *by_tag;
	const uint32_t *required;
	uint32_t nrequired;
	const struct fix_dict_layout *layouts;
	uint32_t nlayouts;
	const struct fix_dict_message *messages;
	uint32_t nmessages;
	const uint32_t *messages_by_type; /* message indices sorted by msg_type */
	uint32_t header, trailer;         /* layouts */
	/* 0 for a static table (fix_dict_default); otherwise the reference
	 * count of a loaded dictionary, whose arrays live in one allocation. */
	int refs;
	void *mem;
};

/* The FIX 4.4 dictionary compiled in at build time. Never freed. */
const struct fix_dict *fix_dict_default(void);

/* Load a QuickFIX XML dictionary. NULL on failure with "FILE:LINE: problem"
 * in err. The result holds one reference. */
struct fix_dict *fix_dict_load(const char *path, char *err, size_t errlen);
/* The same from memory; name is used in messages. */
struct fix_dict *fix_dict_load_mem(const char *xml, size_t len, const char *name, char *err,
				   size_t errlen);
const struct fix_dict *fix_dict_ref(const struct fix_dict *d);
void fix_dict_unref(const struct fix_dict *d);

static inline const char *fix_dict_str(const struct fix_dict *d, uint32_t off)
{
	return d->strings + off;
}

/* Lookups; -1 when absent. */
int fix_dict_field_by_tag(const struct fix_dict *d, uint32_t tag);
int fix_dict_field_by_name(const struct fix_dict *d, const char *name);
int fix_dict_message_by_type(const struct fix_dict *d, const char *msg_type, size_t len);
int fix_dict_message_by_name(const struct fix_dict *d, const char *name);
/* Index in entries of the member with this tag in layout l, or -1. */
int fix_dict_layout_find(const struct fix_dict *d, uint32_t l, uint32_t tag);
/* Index in enums of the value (wire form) of field f, or -1. f having no
 * enums at all gives -2 (any value goes). */
int fix_dict_enum_by_value(const struct fix_dict *d, uint32_t f, const char *v, size_t len);
int fix_dict_enum_by_name(const struct fix_dict *d, uint32_t f, const char *name, size_t len);

/* Is v (len bytes) well formed for a field of this type? 1 or 0. */
int fix_dict_value_ok(const struct fix_dict *d, uint32_t f, const char *v, size_t len);

/* What is wrong with an inbound message, as a session Reject says it
 * (SessionRejectReason 373, RefTagID 371, QuickFIX's Text 58). */
struct fix_dict_problem {
	int reason;  /* 373 */
	int ref_tag; /* 371, -1 for none */
	char text[160];
};

/* Check a parsed message against the dictionary: known MsgType, known tags,
 * tags belonging to the message, required fields (in groups too), enum
 * values, data formats, NumInGroup counts, repeated tags. 0 if good, else
 * 1 with the first problem in *p. */
int fix_dict_check(const struct fix_dict *d, const struct fix_msg *m, struct fix_dict_problem *p);

/* Edit distance, for "did you mean". */
int fix_dict_distance(const char *a, const char *b);

#endif
