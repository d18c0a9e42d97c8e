/* test-deps: fix44 fix_dict fix_session fix_store_mem fix_codec */
/* The data dictionary: the build-time table equals what the loader makes of
 * dict/FIX44.xml, lookups, load errors with file and line, the checks a
 * session Reject reports, and the session's validate hook with exact bytes. */
#include "fix_dict.h"
#include "test_fix_session_helpers.h"

static const char *xml_path(void)
{
	static char path[1024];
	const char *src = getenv("BT_SOURCE_DIR");
	snprintf(path, sizeof path, "%s/dict/FIX44.xml", src ? src : ".");
	return path;
}

/* The generator wrote out exactly what the run-time loader builds. */
static void test_default_is_the_xml(void)
{
	char err[256] = "";
	struct fix_dict *x = fix_dict_load(xml_path(), err, sizeof err);
	T_OK(x != NULL);
	if (!x) {
		T_FAIL("%s", err);
		return;
	}
	const struct fix_dict *d = fix_dict_default();
	T_EQ_INT(d->nstrings, x->nstrings);
	T_EQ_INT(d->nfields, x->nfields);
	T_EQ_INT(d->nenums, x->nenums);
	T_EQ_INT(d->nentries, x->nentries);
	T_EQ_INT(d->nlayouts, x->nlayouts);
	T_EQ_INT(d->nmessages, x->nmessages);
	T_OK(!memcmp(d->strings, x->strings, d->nstrings));
	T_OK(!memcmp(d->fields, x->fields, sizeof *d->fields * d->nfields));
	T_OK(!memcmp(d->enums, x->enums, sizeof *d->enums * d->nenums));
	T_OK(!memcmp(d->entries, x->entries, sizeof *d->entries * d->nentries));
	T_OK(!memcmp(d->by_tag, x->by_tag, sizeof *d->by_tag * d->nentries));
	T_OK(!memcmp(d->layouts, x->layouts, sizeof *d->layouts * d->nlayouts));
	T_OK(!memcmp(d->messages, x->messages, sizeof *d->messages * d->nmessages));
	T_OK(!memcmp(d->fields_by_name, x->fields_by_name, 4 * d->nfields));
	T_EQ_INT(d->nrequired, x->nrequired);
	T_OK(!memcmp(d->required, x->required, 4 * d->nrequired));
	T_EQ_INT(d->nfields, 912);
	T_EQ_INT(d->nmessages, 93);
	fix_dict_unref(x);
}

static void test_lookups(void)
{
	const struct fix_dict *d = fix_dict_default();
	int f = fix_dict_field_by_name(d, "ClOrdID");
	T_OK(f >= 0);
	T_EQ_INT(d->fields[f].tag, 11);
	T_EQ_INT(fix_dict_field_by_tag(d, 11), f);
	T_EQ_INT(fix_dict_field_by_name(d, "NoSuchField"), -1);
	T_EQ_INT(fix_dict_field_by_tag(d, 4999), -1);
	int side = fix_dict_field_by_tag(d, 54);
	T_EQ_INT(d->fields[side].type, FIX_T_CHAR);
	int e = fix_dict_enum_by_name(d, (uint32_t)side, "SELL", 4);
	T_OK(e >= 0);
	T_EQ_STR(fix_dict_str(d, d->enums[e].value), "2");
	T_EQ_INT(fix_dict_enum_by_value(d, (uint32_t)side, "2", 1), e);
	T_EQ_INT(fix_dict_enum_by_value(d, (uint32_t)side, "Z", 1), -1);
	T_EQ_INT(fix_dict_enum_by_value(d, (uint32_t)f, "x", 1), -2); /* no enum */
	int w = fix_dict_message_by_type(d, "W", 1);
	T_OK(w >= 0);
	T_EQ_STR(fix_dict_str(d, d->messages[w].name), "MarketDataSnapshotFullRefresh");
	T_EQ_INT(fix_dict_message_by_name(d, "MarketDataSnapshotFullRefresh"), w);
	T_EQ_INT(fix_dict_message_by_type(d, "WW", 2), -1);
	/* 268 is a group in W's layout, 270 only inside it */
	uint32_t l = d->messages[w].layout;
	int g = fix_dict_layout_find(d, l, 268);
	T_OK(g >= 0 && d->entries[g].group >= 0);
	T_EQ_INT(fix_dict_layout_find(d, l, 270), -1);
	T_OK(fix_dict_layout_find(d, (uint32_t)d->entries[g].group, 270) >= 0);
	/* the group's delimiter is its first member */
	const struct fix_dict_layout *gl = &d->layouts[d->entries[g].group];
	T_EQ_INT(d->fields[d->entries[gl->first].field].tag, 269);
	T_EQ_INT(fix_dict_distance("ClOrID", "ClOrdID"), 1);
	T_EQ_INT(fix_dict_distance("side", "Side"), 0);
}

static void load_err(const char *xml, const char *want)
{
	char err[256] = "";
	struct fix_dict *d = fix_dict_load_mem(xml, strlen(xml), "v.xml", err, sizeof err);
	T_OK(d == NULL);
	T_EQ_STR(err, want);
	fix_dict_unref(d);
}

#define HEAD "<fix>\n<header><field name='A' required='Y'/></header>\n<trailer/>\n"

static void test_load_errors(void)
{
	load_err("<fix>\n<header>\n</fix>", "v.xml:3: mismatched tag");
	load_err("", "v.xml:1: no element found");
	load_err("<fox/>", "v.xml:1: root element <fix> expected");
	load_err("<fix>\n</fix>",
		 "v.xml:1: <fix> needs <header>, <trailer>, <messages> and <fields>");
	load_err(HEAD
		 "<messages/>\n<fields>\n<field number='x' name='A' type='INT'/>\n</fields></fix>",
		 "v.xml:6: field 'A': bad number 'x'");
	load_err(HEAD "<messages/>\n<fields>\n<field number='1' name='A' type='INT'/>\n"
		      "<field number='1' name='B' type='INT'/>\n</fields></fix>",
		 "v.xml:7: field 'B' (1) defined twice");
	load_err(HEAD "<messages/>\n<fields>\n<field number='1' name='A' type='INT'/>\n"
		      "<field number='2' name='A' type='INT'/>\n</fields></fix>",
		 "v.xml:7: field 'A' defined twice");
	load_err(HEAD
		 "<messages>\n<message name='M' msgtype='M'>\n<field name='B' required='Y'/>\n"
		 "</message></messages>\n<fields><field number='1' name='A' type='INT'/></fields>"
		 "</fix>",
		 "v.xml:6: M: unknown field 'B'");
	load_err(HEAD
		 "<messages>\n<message name='M' msgtype='M'>\n<component name='C' required='Y'/>"
		 "\n</message></messages>\n<fields><field number='1' name='A' type='INT'/></fields>"
		 "</fix>",
		 "v.xml:6: M: unknown component 'C'");
	load_err(HEAD
		 "<messages>\n<message name='M' msgtype='M'>\n<component name='C' required='Y'/>"
		 "\n</message></messages>\n<components>\n<component name='C'>\n"
		 "<component name='C' required='N'/>\n</component></components>\n"
		 "<fields><field number='1' name='A' type='INT'/></fields></fix>",
		 "v.xml:10: component 'C' includes itself");
	load_err(HEAD "<messages>\n<message name='M'/>\n</messages>\n"
		      "<fields><field number='1' name='A' type='INT'/></fields></fix>",
		 "v.xml:5: <message name=... msgtype=...> expected");
	char err[256] = "";
	/* the smallest dictionary: nothing in it, but well formed */
	const char *empty = "<fix><header/><trailer/><messages/><fields/></fix>";
	struct fix_dict *d = fix_dict_load_mem(empty, strlen(empty), "e.xml", err, sizeof err);
	T_OK(d != NULL);
	T_EQ_INT(d ? d->nfields : 1, 0);
	fix_dict_unref(d);
	T_OK(fix_dict_load("/nonexistent/x.xml", err, sizeof err) == NULL);
	T_EQ_STR(err, "/nonexistent/x.xml: No such file or directory");
}

/* A small valid dictionary from memory: a custom message with a group. */
static void test_load_custom(void)
{
	const char *xml = HEAD "<messages>\n<message name='Quote' msgtype='U1' msgcat='app'>\n"
			       "<field name='A' required='Y'/>\n<group name='NoX' required='N'>\n"
			       "<field name='X' required='Y'/><field name='Y' required='N'/>\n"
			       "</group></message></messages>\n<fields>\n"
			       "<field number='1' name='A' type='INT'/>\n"
			       "<field number='5000' name='NoX' type='NUMINGROUP'/>\n"
			       "<field number='5001' name='X' type='CHAR'><value enum='a' "
			       "description='ALPHA'/></field>\n"
			       "<field number='5002' name='Y' type='PRICE'/>\n</fields></fix>";
	char err[256] = "";
	struct fix_dict *d = fix_dict_load_mem(xml, strlen(xml), "c.xml", err, sizeof err);
	T_OK(d != NULL);
	if (!d) {
		T_FAIL("%s", err);
		return;
	}
	int m = fix_dict_message_by_type(d, "U1", 2);
	T_OK(m >= 0);
	T_EQ_INT(d->layouts[d->messages[m].layout].n, 2);
	int x = fix_dict_field_by_name(d, "X");
	T_EQ_STR(fix_dict_str(d, d->enums[fix_dict_enum_by_name(d, (uint32_t)x, "ALPHA", 5)].value),
		 "a");
	/* a second reference keeps it alive past the first unref */
	fix_dict_ref(d);
	fix_dict_unref(d);
	T_EQ_INT(fix_dict_field_by_tag(d, 5002), fix_dict_field_by_name(d, "Y"));
	fix_dict_unref(d);
}

static int check(const char *frame, struct fix_dict_problem *p)
{
	struct fix_field fields[128];
	struct fix_msg m;
	fix_msg_init(&m, fields, 128);
	T_EQ_INT(fix_parse(&m, frame, strlen(frame)), FIX_OK);
	memset(p, 0, sizeof *p);
	return fix_dict_check(fix_dict_default(), &m, p);
}

#define ER_OK "37=O1|11=A|17=X1|150=0|39=0|55=E|54=1|151=0|14=0|6=0|"

static void expect_problem(const char *frame, int reason, int tag, const char *text)
{
	struct fix_dict_problem p;
	T_EQ_INT(check(frame, &p), 1);
	T_EQ_INT(p.reason, reason);
	T_EQ_INT(p.ref_tag, tag);
	T_EQ_STR(p.text, text);
}

static void test_check(void)
{
	struct fix_dict_problem p;
	T_EQ_INT(check(W(FROM_EXC("8", 2, T0S) ER_OK), &p), 0);
	T_EQ_INT(check(W(FROM_EXC("W", 2, T0S) "55=E|268=2|269=0|270=1|269=1|270=2|"), &p), 0);
	expect_problem(W(FROM_EXC("8", 2, T0S) "37=O1|11=A|17=X1|150=0|39=0|55=E|151=0|14=0|6=0|"),
		       1, 54, "Required tag missing");
	expect_problem(W(FROM_EXC("8", 2, T0S) ER_OK "9999=1|"), 0, 9999, "Invalid tag number");
	expect_problem(W(FROM_EXC("8", 2, T0S) ER_OK "262=1|"), 2, 262,
		       "Tag not defined for this message type");
	expect_problem(W(FROM_EXC("8", 2, T0S) ER_OK "11=B|"), 13, 11,
		       "Tag appears more than once");
	expect_problem(
	    W(FROM_EXC("8", 2, T0S) "37=O1|11=A|17=X1|150=0|39=0|55=E|54=Q|151=0|14=0|6=0|"), 5, 54,
	    "Value is incorrect (out of range) for this tag");
	expect_problem(W(FROM_EXC("8", 2, T0S) ER_OK "60=noon|"), 6, 60,
		       "Incorrect data format for value");
	expect_problem(W(FROM_EXC("8", 2, T0S) ER_OK "44=1.2.3|"), 6, 44,
		       "Incorrect data format for value");
	T_EQ_INT(check(W(FROM_EXC("8", 2, T0S) ER_OK "75=20250101|200=202503|"), &p), 0);
	expect_problem(W(FROM_EXC("8", 2, T0S) ER_OK "75=20251301|"), 6, 75,
		       "Incorrect data format for value");
	expect_problem(W(FROM_EXC("8", 2, T0S) ER_OK "200=2025-03|"), 6, 200,
		       "Incorrect data format for value");
	expect_problem(W(FROM_EXC("W", 2, T0S) "55=E|268=3|269=0|270=1|269=1|270=2|"), 16, 268,
		       "Incorrect NumInGroup count for repeating group");
	expect_problem(W(FROM_EXC("W", 2, T0S) "55=E|268=1|269=0|270=1|269=1|"), 16, 268,
		       "Incorrect NumInGroup count for repeating group");
	expect_problem(W(FROM_EXC("W", 2, T0S) "55=E|"), 1, 268, "Required tag missing");
	expect_problem(W(FROM_EXC("ZZ", 2, T0S) "55=E|"), 11, -1, "Invalid MsgType");
	/* inside a group: a tag repeated in one entry */
	expect_problem(W(FROM_EXC("W", 2, T0S) "55=E|268=1|269=0|270=1|270=2|"), 13, 270,
		       "Tag appears more than once");
}

static int validate(void *ud, const struct fix_msg *m, int *ref_tag, int *reason, char *text,
		    size_t textlen)
{
	struct fix_dict_problem p;
	if (!fix_dict_check(ud, m, &p))
		return 0;
	*ref_tag = p.ref_tag;
	*reason = p.reason;
	snprintf(text, textlen, "%s", p.text);
	return 1;
}

/* The session's hook: a message breaking the dictionary is answered with a
 * Reject (45/371/372/373/58) and never becomes an event; the next one does. */
static void test_session_reject_hook(void)
{
	struct fix_store_mem ms;
	struct fix_event ev;
	fix_store_mem_init(&ms, 1, 1, 0);
	struct fix_session_cfg c;
	cfg_client(&c, &ms.st);
	c.validate = validate;
	c.validate_ud = (void *)fix_dict_default();
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	FEED(s, W(FROM_EXC("8", 2, T0S) "37=O1|11=A|17=X1|150=0|39=0|55=E|54=Q|151=0|14=0|6=0|"),
	     T0);
	EXPECT_NO_EV(s);
	EXPECT_OUT(s, W(FROM_CLI("3", 2, T0S) "45=2|371=54|372=8|373=5|58=Value is incorrect (out "
					      "of range) for this tag|"));
	FEED(s, W(FROM_EXC("8", 3, T0S) ER_OK), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

int main(void)
{
	T_RUN(test_default_is_the_xml);
	T_RUN(test_lookups);
	T_RUN(test_load_errors);
	T_RUN(test_load_custom);
	T_RUN(test_check);
	T_RUN(test_session_reject_hook);
	return T_END();
}
