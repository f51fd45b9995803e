/*
 * test_load_refusals.c — the loader's pure pieces of issue 11, without a
 * server: which warnings say a value was refused and which row and column
 * they name (src/load/values.c, with the messages MariaDB 10.11 gives), and
 * --columns with @variables and --set turned into the insert method's
 * placeholders (src/load/colspec.c).
 */
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "testutil.h"

TEST(value_complaints_by_code_level_row_and_column) {
  static const struct {
    const char *level;
    unsigned code;
    const char *msg;
    int yes;
    uint64_t row;
    const char *column;
  } t[] = {
      {"Warning", 1366, "Incorrect decimal value: '' for column `db`.`t`.`amount` at row 2", 1, 2,
       "amount"},
      {"Warning", 1265, "Data truncated for column 'd' at row 12", 1, 12, "d"},
      {"Warning", 1264, "Out of range value for column 'u' at row 1", 1, 1, "u"},
      {"Warning", 1263,
       "Column set to default value; NULL supplied to NOT NULL column 'i' at row 7", 1, 7, "i"},
      {"Warning", 1048, "Column 'name' cannot be null", 1, 0, "name"},
      {"Error", 1048, "Column 'name' cannot be null", 1, 0, "name"},
      {"Warning", 1406, "Data too long for column 'note' at row 3", 1, 3, "note"},
      {"Warning", 1262, "Row 4 was truncated; it contained more data than there were input columns",
       1, 4, ""},
      {"Warning", 1261, "Row 9 doesn't contain data for all columns", 1, 9, ""},
      {"Warning", 1411, "Incorrect datetime value: '31/02' for function str_to_date", 1, 0, ""},
      /* a value that reads like a column, a name with a backquote */
      {"Warning", 1366,
       "Incorrect integer value: 'for column `x`' for column `d`.`t`.`a``b` at row 5", 1, 5, "a`b"},
      /* a Note (a DECIMAL rounded) stays a warning; so do duplicates */
      {"Note", 1265, "Data truncated for column 'v' at row 1", 0, 0, ""},
      {"Warning", 1062, "Duplicate entry '1' for key 'PRIMARY'", 0, 0, ""},
  };
  size_t i;
  for (i = 0; i < sizeof t / sizeof t[0]; i++) {
    uint64_t row = 99;
    char col[LOAD_COLUMN_NAME_MAX + 1];
    int yes = load_value_complaint(t[i].level, t[i].code, t[i].msg, &row, col, sizeof col);
    if (yes != t[i].yes || (yes && (row != t[i].row || strcmp(col, t[i].column))))
      FAIL("row %zu (%s %u %s): %d row %llu column '%s', want %d %llu '%s'", i, t[i].level,
           t[i].code, t[i].msg, yes, (unsigned long long)row, yes ? col : "", t[i].yes,
           (unsigned long long)t[i].row, t[i].column);
  }
}

TEST(value_message_loses_its_statement_row) {
  char out[200];
  load_value_message("Data truncated for column 'd' at row 12", out, sizeof out);
  CHECK_EQ_STR(out, "Data truncated for column 'd'");
  load_value_message("Column 'name' cannot be null", out, sizeof out);
  CHECK_EQ_STR(out, "Column 'name' cannot be null");
  load_value_message("value 'at row 3' at row 4", out, sizeof out);
  CHECK_EQ_STR(out, "value 'at row 3'");
}

TEST(columns_with_variables_and_set_become_placeholders) {
  load_colspec cs;
  char why[200], *ex;
  int *fields = NULL, n = 0;
  CHECK_EQ_INT(load_colspec_parse(&cs, "id,@skip,name,@d",
                                  "born = STR_TO_DATE(@d, '%d/%m/@x'), `a``b` = CONCAT(@skip, "
                                  "',', @D, @@version, \"@no\")",
                                  why, sizeof why),
               0);
  CHECK_EQ_INT(cs.n, 4);
  CHECK_EQ_STR(cs.names[1], "@skip");
  CHECK_EQ_INT(cs.nset, 2);
  CHECK_EQ_STR(cs.set_col[0], "born");
  CHECK_EQ_STR(cs.set_col[1], "a`b");
  CHECK_EQ_STR(cs.set_expr[0], "STR_TO_DATE(@d, '%d/%m/@x')");
  ex = load_expr_placeholders(&cs, cs.set_expr[0], &fields, &n, why, sizeof why);
  CHECK_EQ_STR(ex, "STR_TO_DATE(\001, '%d/%m/@x')"); /* not inside quotes */
  free(ex);
  ex = load_expr_placeholders(&cs, cs.set_expr[1], &fields, &n, why, sizeof why);
  CHECK_EQ_STR(ex, "CONCAT(\001, ',', \001, @@version, \"@no\")");
  free(ex);
  CHECK_EQ_INT(n, 3);
  CHECK(fields[0] == 3 && fields[1] == 1 && fields[2] == 3); /* @D is @d */
  CHECK(load_expr_placeholders(&cs, "@nope + 1", &fields, &n, why, sizeof why) == NULL);
  CHECK_CONTAINS(why, "@nope is not a variable of --columns");
  free(fields);
  load_colspec_free(&cs);
  CHECK_EQ_INT(load_colspec_parse(&cs, "a,,b", NULL, why, sizeof why), -1);
  CHECK_CONTAINS(why, "option --columns: an empty name");
  CHECK_EQ_INT(load_colspec_parse(&cs, "a,@", NULL, why, sizeof why), -1);
  CHECK_EQ_INT(load_colspec_parse(&cs, "a", "b", why, sizeof why), -1);
  CHECK_CONTAINS(why, "option --set: 'b' is not COLUMN = EXPRESSION");
  CHECK_EQ_INT(load_colspec_parse(&cs, "a", "b = ", why, sizeof why), -1);
}
