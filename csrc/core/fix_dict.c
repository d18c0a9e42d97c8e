/* QuickFIX XML dictionaries: expat builds a small element tree, which is
 * then resolved (field references, components expanded in place, groups
 * given their own layouts) into the flat arrays of fix_dict.h. */
#include "fix_dict.h"

#include <errno.h>
#include <expat.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fix_codec.h"

/* ------------------------------------------------------------ element tree */

struct xel {
	char *tag; /* element name */
	char *name, *required, *number, *type, *msgtype, *msgcat, *enumv, *desc;
	unsigned long line;
	struct xel *child, *last, *next, *parent;
};

struct xparse {
	XML_Parser p;
	struct xel root; /* document node */
	struct xel *cur;
	int oom;
};

static char *xstrdup(struct xparse *x, const char *s)
{
	char *d = strdup(s);
	if (!d)
		x->oom = 1;
	return d;
}

static void on_start(void *ud, const XML_Char *el, const XML_Char **attr)
{
	struct xparse *x = ud;
	struct xel *e = calloc(1, sizeof *e);
	if (!e) {
		x->oom = 1;
		XML_StopParser(x->p, XML_FALSE);
		return;
	}
	e->tag = xstrdup(x, el);
	e->line = XML_GetCurrentLineNumber(x->p);
	for (int i = 0; attr[i]; i += 2) {
		const char *k = attr[i];
		char **slot = !strcmp(k, "name")          ? &e->name
			      : !strcmp(k, "required")    ? &e->required
			      : !strcmp(k, "number")      ? &e->number
			      : !strcmp(k, "type")        ? &e->type
			      : !strcmp(k, "msgtype")     ? &e->msgtype
			      : !strcmp(k, "msgcat")      ? &e->msgcat
			      : !strcmp(k, "enum")        ? &e->enumv
			      : !strcmp(k, "description") ? &e->desc
							  : NULL;
		if (slot && !*slot)
			*slot = xstrdup(x, attr[i + 1]);
	}
	e->parent = x->cur;
	if (x->cur->last)
		x->cur->last->next = e;
	else
		x->cur->child = e;
	x->cur->last = e;
	x->cur = e;
}

static void on_end(void *ud, const XML_Char *el)
{
	struct xparse *x = ud;
	(void)el;
	x->cur = x->cur->parent;
}

static void xel_free_children(struct xel *e)
{
	struct xel *c = e->child;
	while (c) {
		struct xel *n = c->next;
		xel_free_children(c);
		free(c->tag);
		free(c->name);
		free(c->required);
		free(c->number);
		free(c->type);
		free(c->msgtype);
		free(c->msgcat);
		free(c->enumv);
		free(c->desc);
		free(c);
		c = n;
	}
}

static struct xel *xfind(struct xel *e, const char *tag)
{
	for (struct xel *c = e ? e->child : NULL; c; c = c->next)
		if (!strcmp(c->tag, tag))
			return c;
	return NULL;
}

/* ------------------------------------------------------------ growable arrays */

struct vec {
	void *p;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void *p = realloc(v->p, cap * v->size);
		if (!p)
			return NULL;
		v->p = p;
		v->cap = cap;
	}
	return (char *)v->p + v->size * v->n++;
}

struct builder {
	const char *file;
	char *err;
	size_t errlen;
	int failed;
	struct vec strings; /* chars */
	struct vec fields, enums, entries, layouts, messages;
	struct xel *components; /* <components> */
	int depth;              /* component nesting, against cycles */
	uint32_t *by_name;      /* field indices sorted by name, once fields are read */
};

static void bfail(struct builder *b, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void bfail(struct builder *b, unsigned long line, const char *fmt, ...)
{
	if (b->failed)
		return;
	b->failed = 1;
	int n = snprintf(b->err, b->errlen, "%s:%lu: ", b->file, line);
	if (n < 0 || (size_t)n >= b->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static uint32_t bstr(struct builder *b, const char *s)
{
	size_t len = strlen(s) + 1;
	uint32_t off = (uint32_t)b->strings.n;
	for (size_t i = 0; i < len; i++) {
		char *c = vec_push(&b->strings);
		if (!c) {
			bfail(b, 0, "out of memory");
			return 0;
		}
		*c = s[i];
	}
	return off;
}

static const char *bget(struct builder *b, uint32_t off)
{
	return (const char *)b->strings.p + off;
}

static uint32_t map_type(const char *t)
{
	static const struct {
		const char *name;
		uint32_t type;
	} map[] = {
	    {"CHAR", FIX_T_CHAR},
	    {"INT", FIX_T_INT},
	    {"LENGTH", FIX_T_INT},
	    {"SEQNUM", FIX_T_INT},
	    {"TAGNUM", FIX_T_INT},
	    {"DAYOFMONTH", FIX_T_INT},
	    {"NUMINGROUP", FIX_T_NUMINGROUP},
	    {"FLOAT", FIX_T_FLOAT},
	    {"PRICE", FIX_T_FLOAT},
	    {"QTY", FIX_T_FLOAT},
	    {"AMT", FIX_T_FLOAT},
	    {"PRICEOFFSET", FIX_T_FLOAT},
	    {"PERCENTAGE", FIX_T_FLOAT},
	    {"BOOLEAN", FIX_T_BOOLEAN},
	    {"UTCTIMESTAMP", FIX_T_UTCTIMESTAMP},
	    {"DATA", FIX_T_DATA},
	    {"MULTIPLEVALUESTRING", FIX_T_MULTI},
	    {"UTCDATEONLY", FIX_T_DATE},
	    {"UTCDATE", FIX_T_DATE},
	    {"LOCALMKTDATE", FIX_T_DATE},
	    {"UTCTIMEONLY", FIX_T_TIMEONLY},
	    {"MONTHYEAR", FIX_T_MONTHYEAR},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i].name, t))
			return map[i].type;
	return FIX_T_STRING;
}

/* Field index by name (binary search in by_name, built after <fields>). */
static int bfield(struct builder *b, const char *name)
{
	const struct fix_dict_field *f = b->fields.p;
	size_t lo = 0, hi = b->by_name ? b->fields.n : 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(bget(b, f[b->by_name[mid]].name), name);
		if (c == 0)
			return (int)b->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int build_fields(struct builder *b, struct xel *fields)
{
	for (struct xel *e = fields->child; e && !b->failed; e = e->next) {
		if (strcmp(e->tag, "field")) {
			bfail(b, e->line, "unexpected <%s> in <fields>", e->tag);
			break;
		}
		if (!e->name || !e->number || !e->type) {
			bfail(b, e->line, "field needs name, number and type");
			break;
		}
		char *end;
		errno = 0;
		unsigned long tag = strtoul(e->number, &end, 10);
		if (errno || *end || !*e->number || tag == 0 || tag > 999999999) {
			bfail(b, e->line, "field '%s': bad number '%s'", e->name, e->number);
			break;
		}
		const struct fix_dict_field *have = b->fields.p;
		for (size_t i = 0; i < b->fields.n; i++) {
			if (have[i].tag == tag) {
				bfail(b, e->line, "field '%s' (%lu) defined twice", e->name, tag);
				return -1;
			}
		}
		struct fix_dict_field f = {.tag = (uint32_t)tag, .type = map_type(e->type)};
		f.name = bstr(b, e->name);
		f.tname = bstr(b, e->type);
		f.enum_off = (uint32_t)b->enums.n;
		for (struct xel *v = e->child; v && !b->failed; v = v->next) {
			if (strcmp(v->tag, "value") || !v->enumv || !v->desc || !*v->enumv) {
				bfail(b, v->line,
				      "field '%s': <value enum=... description=...> expected",
				      e->name);
				break;
			}
			struct fix_dict_enum en = {bstr(b, v->enumv), bstr(b, v->desc)};
			struct fix_dict_enum *slot = vec_push(&b->enums);
			if (!slot) {
				bfail(b, v->line, "out of memory");
				break;
			}
			*slot = en;
		}
		f.enum_n = (uint32_t)b->enums.n - f.enum_off;
		struct fix_dict_field *slot = vec_push(&b->fields);
		if (!slot) {
			bfail(b, e->line, "out of memory");
			break;
		}
		*slot = f;
	}
	return b->failed ? -1 : 0;
}

static int is_yes(const char *s)
{
	return s && (!strcmp(s, "Y") || !strcmp(s, "y"));
}

static int build_layout(struct builder *b, struct xel *parent, const char *owner);

/* Append the members of element `e` (message, group, component body) to
 * the pending list; required is ANDed with the enclosing component's. */
static void expand(struct builder *b, struct xel *e, int req, const char *owner, struct vec *out)
{
	for (struct xel *c = e->child; c && !b->failed; c = c->next) {
		int creq = req && is_yes(c->required);
		if (!c->name) {
			bfail(b, c->line, "<%s> without a name in %s", c->tag, owner);
			return;
		}
		if (!strcmp(c->tag, "field") || !strcmp(c->tag, "group")) {
			int f = bfield(b, c->name);
			if (f < 0) {
				bfail(b, c->line, "%s: unknown field '%s'", owner, c->name);
				return;
			}
			struct fix_dict_entry en = {
			    .field = (uint32_t)f, .group = -1, .required = (uint32_t)creq};
			if (!strcmp(c->tag, "group")) {
				if (!c->child) {
					bfail(b, c->line, "%s: group '%s' has no members", owner,
					      c->name);
					return;
				}
				int g = build_layout(b, c, c->name);
				if (g < 0)
					return;
				en.group = g;
			}
			struct fix_dict_entry *slot = vec_push(out);
			if (!slot) {
				bfail(b, c->line, "out of memory");
				return;
			}
			*slot = en;
		} else if (!strcmp(c->tag, "component")) {
			struct xel *def = NULL;
			for (struct xel *d = b->components ? b->components->child : NULL; d;
			     d = d->next)
				if (d->name && !strcmp(d->name, c->name))
					def = d;
			if (!def) {
				bfail(b, c->line, "%s: unknown component '%s'", owner, c->name);
				return;
			}
			if (++b->depth > 32) {
				bfail(b, c->line, "component '%s' includes itself", c->name);
				return;
			}
			expand(b, def, creq, owner, out);
			b->depth--;
		} else {
			bfail(b, c->line, "%s: unexpected <%s>", owner, c->tag);
			return;
		}
	}
}

static int build_layout(struct builder *b, struct xel *parent, const char *owner)
{
	struct vec pending = {.size = sizeof(struct fix_dict_entry)};
	expand(b, parent, 1, owner, &pending);
	int idx = -1;
	if (!b->failed) {
		struct fix_dict_layout l = {.first = (uint32_t)b->entries.n,
					    .n = (uint32_t)pending.n};
		const struct fix_dict_entry *pe = pending.p;
		for (size_t i = 0; i < pending.n && !b->failed; i++) {
			struct fix_dict_entry *slot = vec_push(&b->entries);
			if (!slot)
				bfail(b, parent->line, "out of memory");
			else
				*slot = pe[i];
		}
		struct fix_dict_layout *slot = vec_push(&b->layouts);
		if (!slot) {
			bfail(b, parent->line, "out of memory");
		} else {
			*slot = l;
			idx = (int)b->layouts.n - 1;
		}
	}
	free(pending.p);
	return b->failed ? -1 : idx;
}

/* Sort helpers need the tables; qsort has no context argument, so sort
 * small index arrays with an insertion/shell sort of our own. */
typedef int (*cmp_fn)(const void *ctx, uint32_t a, uint32_t b);

static void sort_idx(uint32_t *v, size_t n, const void *ctx, cmp_fn cmp)
{
	for (size_t gap = n / 2; gap > 0; gap /= 2)
		for (size_t i = gap; i < n; i++) {
			uint32_t x = v[i];
			size_t j = i;
			while (j >= gap && cmp(ctx, v[j - gap], x) > 0) {
				v[j] = v[j - gap];
				j -= gap;
			}
			v[j] = x;
		}
}

struct sort_ctx {
	const struct fix_dict *d;
	uint32_t first;
};

static int cmp_field_tag(const void *c, uint32_t a, uint32_t b)
{
	const struct fix_dict *d = c;
	uint32_t x = d->fields[a].tag, y = d->fields[b].tag;
	return x < y ? -1 : x > y;
}

static int cmp_field_name(const void *c, uint32_t a, uint32_t b)
{
	const struct fix_dict *d = c;
	return strcmp(d->strings + d->fields[a].name, d->strings + d->fields[b].name);
}

static int cmp_msg_type(const void *c, uint32_t a, uint32_t b)
{
	const struct fix_dict *d = c;
	return strcmp(d->strings + d->messages[a].msg_type, d->strings + d->messages[b].msg_type);
}

static int cmp_entry_tag(const void *c, uint32_t a, uint32_t b)
{
	const struct sort_ctx *s = c;
	uint32_t x = s->d->fields[s->d->entries[s->first + a].field].tag;
	uint32_t y = s->d->fields[s->d->entries[s->first + b].field].tag;
	return x < y ? -1 : x > y;
}

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

/* Pack the vectors into one allocation and build the sorted indexes. */
static struct fix_dict *finish(struct builder *b, uint32_t header, uint32_t trailer)
{
	size_t sz = ALIGN8(sizeof(struct fix_dict));
	size_t o_str = sz;
	sz += ALIGN8(b->strings.n);
	size_t o_fld = sz;
	sz += ALIGN8(b->fields.n * sizeof(struct fix_dict_field));
	size_t o_fbt = sz;
	sz += ALIGN8(b->fields.n * 4);
	size_t o_fbn = sz;
	sz += ALIGN8(b->fields.n * 4);
	size_t o_enm = sz;
	sz += ALIGN8(b->enums.n * sizeof(struct fix_dict_enum));
	size_t o_ent = sz;
	sz += ALIGN8(b->entries.n * sizeof(struct fix_dict_entry));
	size_t o_bt = sz;
	sz += ALIGN8(b->entries.n * 4);
	size_t o_req = sz;
	sz += ALIGN8(b->entries.n * 4);
	size_t o_lay = sz;
	sz += ALIGN8(b->layouts.n * sizeof(struct fix_dict_layout));
	size_t o_msg = sz;
	sz += ALIGN8(b->messages.n * sizeof(struct fix_dict_message));
	size_t o_mbt = sz;
	sz += ALIGN8(b->messages.n * 4);
	char *mem = calloc(1, sz);
	if (!mem) {
		bfail(b, 0, "out of memory");
		return NULL;
	}
	struct fix_dict *d = (struct fix_dict *)mem;
	if (b->strings.n) /* a dictionary without fields has no strings */
		memcpy(mem + o_str, b->strings.p, b->strings.n);
	if (b->fields.n)
		memcpy(mem + o_fld, b->fields.p, b->fields.n * sizeof(struct fix_dict_field));
	if (b->enums.n)
		memcpy(mem + o_enm, b->enums.p, b->enums.n * sizeof(struct fix_dict_enum));
	if (b->entries.n)
		memcpy(mem + o_ent, b->entries.p, b->entries.n * sizeof(struct fix_dict_entry));
	memcpy(mem + o_lay, b->layouts.p, b->layouts.n * sizeof(struct fix_dict_layout));
	if (b->messages.n)
		memcpy(mem + o_msg, b->messages.p, b->messages.n * sizeof(struct fix_dict_message));
	d->strings = mem + o_str;
	d->nstrings = (uint32_t)b->strings.n;
	d->fields = (const struct fix_dict_field *)(mem + o_fld);
	d->nfields = (uint32_t)b->fields.n;
	d->enums = (const struct fix_dict_enum *)(mem + o_enm);
	d->nenums = (uint32_t)b->enums.n;
	d->entries = (const struct fix_dict_entry *)(mem + o_ent);
	d->nentries = (uint32_t)b->entries.n;
	d->layouts = (const struct fix_dict_layout *)(mem + o_lay);
	d->nlayouts = (uint32_t)b->layouts.n;
	d->messages = (const struct fix_dict_message *)(mem + o_msg);
	d->nmessages = (uint32_t)b->messages.n;
	d->header = header;
	d->trailer = trailer;
	uint32_t *fbt = (uint32_t *)(mem + o_fbt), *fbn = (uint32_t *)(mem + o_fbn);
	for (uint32_t i = 0; i < d->nfields; i++)
		fbt[i] = fbn[i] = i;
	sort_idx(fbt, d->nfields, d, cmp_field_tag);
	sort_idx(fbn, d->nfields, d, cmp_field_name);
	d->fields_by_tag = fbt;
	d->fields_by_name = fbn;
	uint32_t *mbt = (uint32_t *)(mem + o_mbt);
	for (uint32_t i = 0; i < d->nmessages; i++)
		mbt[i] = i;
	sort_idx(mbt, d->nmessages, d, cmp_msg_type);
	d->messages_by_type = mbt;
	uint32_t *bt = (uint32_t *)(mem + o_bt);
	struct fix_dict_layout *lay = (struct fix_dict_layout *)(mem + o_lay);
	for (uint32_t l = 0; l < d->nlayouts; l++) {
		lay[l].tag_off = lay[l].first;
		for (uint32_t i = 0; i < lay[l].n; i++)
			bt[lay[l].first + i] = i;
		struct sort_ctx sc = {d, lay[l].first};
		sort_idx(bt + lay[l].first, lay[l].n, &sc, cmp_entry_tag);
	}
	d->by_tag = bt;
	uint32_t *req = (uint32_t *)(mem + o_req), nreq = 0;
	for (uint32_t l = 0; l < d->nlayouts; l++) {
		lay[l].req_off = nreq;
		for (uint32_t e = lay[l].first; e < lay[l].first + lay[l].n; e++)
			if (d->entries[e].required)
				req[nreq++] = e;
		lay[l].req_n = nreq - lay[l].req_off;
	}
	d->required = req;
	d->nrequired = nreq;
	d->refs = 1;
	d->mem = mem;
	return d;
}

static int cmp_builder_name(const void *c, uint32_t x, uint32_t y)
{
	const struct builder *b = c;
	const struct fix_dict_field *f = b->fields.p;
	return strcmp((const char *)b->strings.p + f[x].name,
		      (const char *)b->strings.p + f[y].name);
}

/* by_name for the references that follow; a name defined twice fails at
 * its second definition. */
static int index_names(struct builder *b, struct xel *fields)
{
	b->by_name = malloc(sizeof *b->by_name * (b->fields.n + 1));
	if (!b->by_name) {
		bfail(b, fields->line, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < b->fields.n; i++)
		b->by_name[i] = i;
	sort_idx(b->by_name, b->fields.n, b, cmp_builder_name);
	const struct fix_dict_field *f = b->fields.p;
	for (size_t i = 1; i < b->fields.n; i++) {
		if (cmp_builder_name(b, b->by_name[i - 1], b->by_name[i]))
			continue;
		const char *name = bget(b, f[b->by_name[i]].name);
		unsigned long line = fields->line;
		int seen = 0;
		for (struct xel *e = fields->child; e; e = e->next)
			if (e->name && !strcmp(e->name, name) && seen++ == 1)
				line = e->line;
		bfail(b, line, "field '%s' defined twice", name);
		return -1;
	}
	return 0;
}

static void builder_free(struct builder *b)
{
	free(b->by_name);
	free(b->strings.p);
	free(b->fields.p);
	free(b->enums.p);
	free(b->entries.p);
	free(b->layouts.p);
	free(b->messages.p);
}

static struct fix_dict *build(struct builder *b, struct xel *fix)
{
	struct xel *fields = xfind(fix, "fields"), *messages = xfind(fix, "messages");
	struct xel *header = xfind(fix, "header"), *trailer = xfind(fix, "trailer");
	b->components = xfind(fix, "components");
	if (!fields || !messages || !header || !trailer) {
		bfail(b, fix->line, "<fix> needs <header>, <trailer>, <messages> and <fields>");
		return NULL;
	}
	if (build_fields(b, fields) < 0 || index_names(b, fields) < 0)
		return NULL;
	int h = build_layout(b, header, "header");
	int t = h < 0 ? -1 : build_layout(b, trailer, "trailer");
	if (t < 0)
		return NULL;
	for (struct xel *m = messages->child; m && !b->failed; m = m->next) {
		if (strcmp(m->tag, "message") || !m->name || !m->msgtype || !*m->msgtype) {
			bfail(b, m->line, "<message name=... msgtype=...> expected");
			return NULL;
		}
		const struct fix_dict_message *have = b->messages.p;
		for (size_t i = 0; i < b->messages.n; i++) {
			if (!strcmp(bget(b, have[i].name), m->name) ||
			    !strcmp(bget(b, have[i].msg_type), m->msgtype)) {
				bfail(b, m->line, "message '%s' (%s) defined twice", m->name,
				      m->msgtype);
				return NULL;
			}
		}
		int l = build_layout(b, m, m->name);
		if (l < 0)
			return NULL;
		struct fix_dict_message msg = {.layout = (uint32_t)l};
		msg.name = bstr(b, m->name);
		msg.msg_type = bstr(b, m->msgtype);
		msg.admin = m->msgcat && !strcmp(m->msgcat, "admin");
		struct fix_dict_message *slot = vec_push(&b->messages);
		if (!slot) {
			bfail(b, m->line, "out of memory");
			return NULL;
		}
		*slot = msg;
	}
	return b->failed ? NULL : finish(b, (uint32_t)h, (uint32_t)t);
}

struct fix_dict *fix_dict_load_mem(const char *xml, size_t len, const char *name, char *err,
				   size_t errlen)
{
	struct xparse x = {0};
	x.root.tag = "";
	x.cur = &x.root;
	x.p = XML_ParserCreate(NULL);
	if (!x.p) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	XML_SetUserData(x.p, &x);
	XML_SetElementHandler(x.p, on_start, on_end);
	struct fix_dict *d = NULL;
	if (XML_Parse(x.p, xml, (int)len, XML_TRUE) != XML_STATUS_OK || x.oom) {
		snprintf(err, errlen, "%s:%lu: %s", name,
			 (unsigned long)XML_GetCurrentLineNumber(x.p),
			 x.oom ? "out of memory" : XML_ErrorString(XML_GetErrorCode(x.p)));
	} else {
		struct xel *fix = x.root.child;
		struct builder b = {.file = name, .err = err, .errlen = errlen};
		b.strings.size = 1;
		b.fields.size = sizeof(struct fix_dict_field);
		b.enums.size = sizeof(struct fix_dict_enum);
		b.entries.size = sizeof(struct fix_dict_entry);
		b.layouts.size = sizeof(struct fix_dict_layout);
		b.messages.size = sizeof(struct fix_dict_message);
		if (!fix || strcmp(fix->tag, "fix"))
			bfail(&b, fix ? fix->line : 1, "root element <fix> expected");
		else
			d = build(&b, fix);
		builder_free(&b);
	}
	XML_ParserFree(x.p);
	xel_free_children(&x.root);
	return d;
}

struct fix_dict *fix_dict_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	struct fix_dict *d = NULL;
	if (bad)
		snprintf(err, errlen, "%s: read error", path);
	else
		d = fix_dict_load_mem(buf, len, path, err, errlen);
	free(buf);
	return d;
}

const struct fix_dict *fix_dict_ref(const struct fix_dict *d)
{
	if (d && d->mem)
		atomic_fetch_add_explicit((_Atomic int *)&((struct fix_dict *)d)->refs, 1,
					  memory_order_relaxed);
	return d;
}

void fix_dict_unref(const struct fix_dict *d)
{
	if (!d || !d->mem)
		return;
	if (atomic_fetch_sub_explicit((_Atomic int *)&((struct fix_dict *)d)->refs, 1,
				      memory_order_acq_rel) == 1)
		free(d->mem);
}

/* ---------------------------------------------------------------- lookups */

int fix_dict_field_by_tag(const struct fix_dict *d, uint32_t tag)
{
	size_t lo = 0, hi = d->nfields;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t t = d->fields[d->fields_by_tag[mid]].tag;
		if (t == tag)
			return (int)d->fields_by_tag[mid];
		if (t < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int fix_dict_field_by_name(const struct fix_dict *d, const char *name)
{
	size_t lo = 0, hi = d->nfields;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(d->strings + d->fields[d->fields_by_name[mid]].name, name);
		if (c == 0)
			return (int)d->fields_by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int fix_dict_message_by_type(const struct fix_dict *d, const char *t, size_t len)
{
	size_t lo = 0, hi = d->nmessages;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *s = d->strings + d->messages[d->messages_by_type[mid]].msg_type;
		int c = strncmp(s, t, len);
		if (c == 0)
			c = s[len] ? 1 : 0;
		if (c == 0)
			return (int)d->messages_by_type[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int fix_dict_message_by_name(const struct fix_dict *d, const char *name)
{
	for (uint32_t i = 0; i < d->nmessages; i++)
		if (!strcmp(d->strings + d->messages[i].name, name))
			return (int)i;
	return -1;
}

int fix_dict_layout_find(const struct fix_dict *d, uint32_t l, uint32_t tag)
{
	const struct fix_dict_layout *lay = &d->layouts[l];
	const uint32_t *idx = d->by_tag + lay->tag_off;
	size_t lo = 0, hi = lay->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t e = lay->first + idx[mid];
		uint32_t t = d->fields[d->entries[e].field].tag;
		if (t == tag)
			return (int)e;
		if (t < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int fix_dict_enum_by_value(const struct fix_dict *d, uint32_t f, const char *v, size_t len)
{
	const struct fix_dict_field *fd = &d->fields[f];
	if (!fd->enum_n)
		return -2;
	for (uint32_t i = fd->enum_off; i < fd->enum_off + fd->enum_n; i++) {
		const char *s = d->strings + d->enums[i].value;
		if (s[0] == v[0] && !strncmp(s, v, len) && !s[len])
			return (int)i;
	}
	return -1;
}

int fix_dict_enum_by_name(const struct fix_dict *d, uint32_t f, const char *name, size_t len)
{
	const struct fix_dict_field *fd = &d->fields[f];
	for (uint32_t i = fd->enum_off; i < fd->enum_off + fd->enum_n; i++) {
		const char *s = d->strings + d->enums[i].name;
		if (s[0] == name[0] && !strncmp(s, name, len) && !s[len])
			return (int)i;
	}
	return -1;
}

static int digits(const char *v, size_t len, int sign, int dot)
{
	size_t i = 0, nd = 0;
	int dots = 0;
	if (sign && len && v[0] == '-')
		i = 1;
	for (; i < len; i++) {
		if (v[i] >= '0' && v[i] <= '9')
			nd++;
		else if (dot && v[i] == '.' && !dots)
			dots = 1;
		else
			return 0;
	}
	return nd > 0;
}

/* n digits at v as a number, or -1. */
static int num(const char *v, size_t n)
{
	int x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

static int date_ok(const char *v, size_t len)
{
	int m = len == 8 && num(v, 4) >= 0 ? num(v + 4, 2) : -1;
	int day = m >= 1 && m <= 12 ? num(v + 6, 2) : -1;
	return day >= 1 && day <= 31;
}

static int time_ok(const char *v, size_t len)
{
	if ((len != 8 && len != 12) || v[2] != ':' || v[5] != ':')
		return 0;
	int h = num(v, 2), m = num(v + 3, 2), sec = num(v + 6, 2);
	if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
		return 0;
	return len == 8 || (v[8] == '.' && num(v + 9, 3) >= 0);
}

static int monthyear_ok(const char *v, size_t len)
{
	if (len < 6 || num(v, 4) < 0 || num(v + 4, 2) < 1 || num(v + 4, 2) > 12)
		return 0;
	if (len == 6)
		return 1;
	if (len == 8 && v[6] == 'w')
		return v[7] >= '1' && v[7] <= '5';
	return len == 8 && num(v + 6, 2) >= 1 && num(v + 6, 2) <= 31;
}

int fix_dict_value_ok(const struct fix_dict *d, uint32_t f, const char *v, size_t len)
{
	int64_t ms;
	switch (d->fields[f].type) {
	case FIX_T_CHAR:
		return len == 1;
	case FIX_T_INT:
		return digits(v, len, 1, 0);
	case FIX_T_NUMINGROUP:
		return digits(v, len, 0, 0);
	case FIX_T_FLOAT:
		return digits(v, len, 1, 1);
	case FIX_T_BOOLEAN:
		return len == 1 && (v[0] == 'Y' || v[0] == 'N');
	case FIX_T_UTCTIMESTAMP:
		return fix_parse_time(v, len, &ms) == FIX_OK;
	case FIX_T_DATE:
		return date_ok(v, len);
	case FIX_T_TIMEONLY:
		return time_ok(v, len);
	case FIX_T_MONTHYEAR:
		return monthyear_ok(v, len);
	default:
		return len > 0;
	}
}

/* Value in the field's enum (MULTIPLEVALUESTRING: every word)? */
static int enum_ok(const struct fix_dict *d, uint32_t f, const char *v, size_t len)
{
	if (!d->fields[f].enum_n)
		return 1;
	if (d->fields[f].type != FIX_T_MULTI)
		return fix_dict_enum_by_value(d, f, v, len) >= 0;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && v[j] != ' ')
			j++;
		if (j > i && fix_dict_enum_by_value(d, f, v + i, j - i) < 0)
			return 0;
		i = j + 1;
	}
	return 1;
}

int fix_dict_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 64;
	int row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int prev = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int cur = row[j];
			int ca = a[i - 1] | 0x20, cb = b[j - 1] | 0x20; /* case-blind */
			int best = prev + (ca != cb);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

/* --------------------------------------------------------------- checking */

struct checker {
	const struct fix_dict *d;
	const struct fix_msg *m;
	struct fix_dict_problem *p;
};

static int problem(struct checker *c, int reason, int tag, const char *text)
{
	c->p->reason = reason;
	c->p->ref_tag = tag;
	snprintf(c->p->text, sizeof c->p->text, "%s", text);
	return 1;
}

static int check_value(struct checker *c, uint32_t f, size_t i)
{
	const struct fix_field *fl = &c->m->fields[i];
	const char *v = c->m->buf + fl->off;
	if (!fix_dict_value_ok(c->d, f, v, fl->len))
		return problem(c, 6, (int)fl->tag, "Incorrect data format for value");
	if (!enum_ok(c->d, f, v, fl->len))
		return problem(c, 5, (int)fl->tag,
			       "Value is incorrect (out of range) for this tag");
	return 0;
}

/* Members seen in one instance of a layout, for duplicates and required
 * fields. A layout level holds at most this many distinct members. */
#define SEEN_MAX 256

static int check_layout(struct checker *c, uint32_t l, size_t *pi, int top);

static int check_required(struct checker *c, uint32_t l, const uint32_t *seen, size_t ns)
{
	const struct fix_dict_layout *lay = &c->d->layouts[l];
	for (uint32_t r = lay->req_off; r < lay->req_off + lay->req_n; r++) {
		uint32_t e = c->d->required[r];
		size_t k = 0;
		while (k < ns && seen[k] != e)
			k++;
		if (k == ns)
			return problem(c, 1, (int)c->d->fields[c->d->entries[e].field].tag,
				       "Required tag missing");
	}
	return 0;
}

/* A group's count field at *pi: parse its instances after it. */
static int check_group(struct checker *c, uint32_t e, size_t *pi)
{
	const struct fix_msg *m = c->m;
	const struct fix_field *cnt = &m->fields[*pi];
	uint64_t n = 0;
	for (uint32_t k = 0; k < cnt->len; k++)
		n = n * 10 + (uint64_t)(m->buf[cnt->off + k] - '0');
	uint32_t g = (uint32_t)c->d->entries[e].group;
	uint32_t delim = c->d->fields[c->d->entries[c->d->layouts[g].first].field].tag;
	uint64_t got = 0;
	(*pi)++;
	while (*pi < m->nfields && m->fields[*pi].tag == delim) {
		got++;
		if (check_layout(c, g, pi, 0))
			return 1;
	}
	if (got != n)
		return problem(c, 16, (int)cnt->tag,
			       "Incorrect NumInGroup count for repeating group");
	return 0;
}

/* Fields of one layout instance from *pi on; a group instance ends at the
 * first tag outside the group or at its delimiter again. */
static int check_layout(struct checker *c, uint32_t l, size_t *pi, int top)
{
	const struct fix_dict *d = c->d;
	const struct fix_msg *m = c->m;
	uint32_t seen[SEEN_MAX];
	size_t ns = 0;
	uint32_t first = d->layouts[l].first;
	while (*pi < m->nfields) {
		size_t i = *pi;
		uint32_t tag = m->fields[i].tag;
		if (!top && tag == d->fields[d->entries[first].field].tag && ns > 0)
			break; /* the next instance */
		int e = fix_dict_layout_find(d, l, tag);
		if (e < 0) {
			if (!top)
				break;
			int hf = fix_dict_layout_find(d, d->header, tag);
			if (hf < 0)
				hf = fix_dict_layout_find(d, d->trailer, tag);
			if (hf >= 0) {
				if (check_value(c, d->entries[hf].field, i))
					return 1;
				(*pi)++;
				continue;
			}
			if (fix_dict_field_by_tag(d, tag) < 0)
				return problem(c, 0, (int)tag, "Invalid tag number");
			return problem(c, 2, (int)tag, "Tag not defined for this message type");
		}
		for (size_t k = 0; k < ns; k++)
			if (seen[k] == (uint32_t)e)
				return problem(c, 13, (int)tag, "Tag appears more than once");
		if (ns < SEEN_MAX)
			seen[ns++] = (uint32_t)e;
		if (check_value(c, d->entries[e].field, i))
			return 1;
		if (d->entries[e].group >= 0) {
			if (check_group(c, (uint32_t)e, pi))
				return 1;
		} else {
			(*pi)++;
		}
	}
	return check_required(c, l, seen, ns);
}

int fix_dict_check(const struct fix_dict *d, const struct fix_msg *m, struct fix_dict_problem *p)
{
	struct checker c = {d, m, p};
	int mi = fix_dict_message_by_type(d, m->msg_type, m->msg_type_len);
	if (mi < 0) /* QuickFIX names no tag (371) for an unknown MsgType */
		return problem(&c, 11, -1, "Invalid MsgType");
	size_t i = 0;
	return check_layout(&c, d->messages[mi].layout, &i, 1);
}
