/* test_weftmap.c - the map compiler (tools/weftmap/mapc.h): a map set
 * parsed into its maps and fields, every kind of error named with
 * file:line, and the header it writes (symbolic map entries, the physical
 * map's fields with offsets). The bank's own maps are compiled by the
 * build itself (samples/bank/bank.map). */
#include "mapc.h"
#include "weft.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char good[] =
    "# a comment\n"
    "MAPSET name=tset\n"
    "MAP name=Menu size=24,80 line=2 column=3\n"
    "FIELD pos=1,2 attr=askip,brt color=blue initial=\"MAIN \\\"MENU\\\"\"\n"
    "FIELD name=opt pos=3,10 length=2 attr=unprot,num,ic,fset hilight=underline\n"
    "FIELD name=amt pos=4,10 length=9 attr=unprot,num justify=right fill=zero\n"
    "MAP name=OTHER\n"
    "FIELD name=X pos=24,1 length=79\n";

Test(mapc, parses_a_map_set) {
  mapc_set s;
  cr_assert_eq(mapc_parse("t.map", good, &s), 0, "%s", s.n_errors ? s.errors[0] : "");
  cr_assert_str_eq(s.name, "TSET");
  cr_assert_eq(s.n_maps, 2);
  const mapc_map *m = &s.maps[0];
  cr_assert_str_eq(m->name, "MENU");
  cr_assert_eq(m->at_line, 2);
  cr_assert_eq(m->at_column, 3);
  cr_assert_eq(m->n_fields, 3);
  cr_assert_str_eq(m->fields[0].initial, "MAIN \"MENU\"");
  cr_assert_eq(m->fields[0].length, 11); /* a label: its initial value's length */
  cr_assert_eq(m->fields[0].attr, WEFT_ATTR_ASKIP | WEFT_ATTR_BRT);
  cr_assert_eq(m->fields[0].color, WEFT_COLOR_BLUE);
  cr_assert_str_eq(m->fields[1].name, "OPT");
  cr_assert_eq(m->fields[1].attr, WEFT_ATTR_NUM | WEFT_ATTR_IC | WEFT_ATTR_FSET);
  cr_assert_eq(m->fields[1].hilight, WEFT_HILIGHT_UNDERLINE);
  cr_assert(m->fields[2].justify_right);
  cr_assert_eq(m->fields[2].fill, '0');
  cr_assert_eq(s.maps[1].rows, 24);                        /* the default size */
  cr_assert_eq(s.maps[1].fields[0].attr, WEFT_ATTR_ASKIP); /* the default attribute */
  mapc_free(&s);
}

Test(mapc, writes_the_header) {
  mapc_set s;
  cr_assert_eq(mapc_parse("t.map", good, &s), 0);
  FILE *f = tmpfile();
  cr_assert_not_null(f);
  cr_assert_eq(mapc_emit(&s, "t.map", f), 0);
  long n = ftell(f);
  rewind(f);
  char *text = calloc(1, (size_t)n + 1);
  cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  static const char *const want[] = {
      "#ifndef WEFTMAP_TSET_H",
      "typedef struct TSET_MENU {",
      "  WEFT_MAP_FIELD(2) OPT;",
      "  WEFT_MAP_FIELD(9) AMT;",
      "} TSET_MENU;",
      "{NULL, 1, 2, 11, 0x09, 0xF1, 0x00, 0, ' ', \"MAIN \\\"MENU\\\"\", 0},",
      "{\"OPT\", 3, 10, 2, 0x64, 0x00, 0xF4, 0, ' ', NULL, offsetof(TSET_MENU, OPT)},",
      "{\"AMT\", 4, 10, 9, 0x04, 0x00, 0x00, 1, '0', NULL, offsetof(TSET_MENU, AMT)},",
      "static const weft_map TSET_MENU_map = {\"TSET\", \"MENU\", 24, 80, 2, 3, 3, "
      "TSET_MENU_fields, sizeof(TSET_MENU)};",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_assert_not_null(strstr(text, want[i]), "missing: %s\nin:\n%s", want[i], text);
  free(text);
  mapc_free(&s);
}

/* Parse src; its first error must be exactly want. */
static void first_error(const char *src, const char *want) {
  mapc_set s;
  cr_assert_gt(mapc_parse("bad.map", src, &s), 0, "no error for:\n%s", src);
  cr_assert_str_eq(s.errors[0], want);
  mapc_free(&s);
}

Test(mapc, errors_name_file_and_line) {
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,1 length=3 attr=bogus\n",
              "bad.map:3: bad attr 'bogus': unprot, askip, prot, num, brt, norm, drk, ic, fset");
  first_error("MAPSET name=A\nFIELD pos=1,1 length=3\n", "bad.map:2: FIELD before any MAP");
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,1 length=5\nFIELD pos=1,4 length=2\n",
              "bad.map:4: the field overlaps the one at line 3 (1,1 length 5)");
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,75 length=10\n",
              "bad.map:3: field at 1,75 with length 10 does not fit map M (24x80)");
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,1 length=2 initial=\"abc\"\n",
              "bad.map:3: the initial value is longer than the field (3 > 2)");
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,1 length=2 initial=\"abc\n",
              "bad.map:3: the quoted value of initial does not end");
  first_error("MAPSET name=A\nMAP name=M\nFIELD name=F pos=1,1 length=2\n"
              "FIELD name=f pos=2,1 length=2\n",
              "bad.map:4: field F is already defined at line 3");
  first_error("MAPSET name=A\nMAP name=TOOLONGNAME\n",
              "bad.map:2: bad map name 'TOOLONGNAME': 1-7 letters, digits or _, starting with "
              "a letter");
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,1 length=2 attr=prot,askip\n",
              "bad.map:3: attr 'prot,askip' names two protections or two intensities");
  first_error("MAPSET name=A\nMAP name=M size=50,80\n",
              "bad.map:2: bad size '50,80': ROWS,COLUMNS (1-43, 1-132)");
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,1 length=2 justify=right\n",
              "bad.map:3: justify=right is for numeric fields (attr=...,num)");
  first_error("MAPSET name=A\nMAP name=M\nFIELD pos=1,1\n",
              "bad.map:3: FIELD needs pos= and length= (or initial=)");
  first_error("MAPSET name=A\nDFHMDF POS=(1,1)\n",
              "bad.map:2: unknown line 'DFHMDF': MAPSET, MAP or FIELD");
  first_error("MAP name=M\n", "bad.map:1: no MAPSET line");
}

Test(mapc, every_error_is_counted) {
  mapc_set s;
  cr_assert_eq(mapc_parse("bad.map", "MAPSET name=A\nMAP name=M\nFIELD x\nFIELD y\n", &s), 2);
  cr_assert_str_eq(s.errors[0], "bad.map:3: expected name=value, found 'x'");
  cr_assert_str_eq(s.errors[1], "bad.map:4: expected name=value, found 'y'");
  mapc_free(&s);
}
