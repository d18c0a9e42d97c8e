/* libFuzzer target for the data dictionary (fix_dict.h): the input is a FIX
 * frame checked against the compiled FIX 4.4 dictionary the way validate =
 * "reject" does on the I/O thread, and is also loaded as a dictionary XML
 * (a venue's file is input too). A problem must name a reason and a text;
 * a refused XML must say where; a loaded one must look itself up. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fix_codec.h"
#include "fix_dict.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fix_field g_fields[1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct fix_msg m;
	fix_msg_init(&m, g_fields, 1024);
	if (fix_parse(&m, buf, size) == FIX_OK) {
		struct fix_dict_problem p;
		if (fix_dict_check(fix_dict_default(), &m, &p)) {
			CHECK(p.reason >= 0 && p.reason <= 16);
			CHECK(p.text[0] != '\0');
		}
	}
	char err[256] = "";
	struct fix_dict *d = fix_dict_load_mem(buf, size, "f.xml", err, sizeof err);
	if (!d) {
		CHECK(strncmp(err, "f.xml:", 6) == 0);
		return 0;
	}
	for (uint32_t i = 0; i < d->nfields; i++) {
		const char *name = fix_dict_str(d, d->fields[i].name);
		CHECK(fix_dict_field_by_name(d, name) == (int)i);
		CHECK(fix_dict_field_by_tag(d, d->fields[i].tag) == (int)i);
	}
	for (uint32_t i = 0; i < d->nmessages; i++) {
		const char *t = fix_dict_str(d, d->messages[i].msg_type);
		CHECK(fix_dict_message_by_type(d, t, strlen(t)) == (int)i);
		const struct fix_dict_layout *l = &d->layouts[d->messages[i].layout];
		for (uint32_t e = l->first; e < l->first + l->n; e++)
			CHECK(fix_dict_layout_find(d, d->messages[i].layout,
						   d->fields[d->entries[e].field].tag) >= 0);
	}
	fix_dict_unref(d);
	return 0;
}
