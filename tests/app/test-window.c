/* test-window.c: the main window driven through its actions on a small demo
 * data set: open a CSV, the Data page fills, the Batch page draws with
 * ts-showbatch and re-rolls; a broken CSV is reported, not fatal.  Needs a
 * display (Xvfb in CI); skips without one. */
#include <adwaita.h>
#include <glib/gstdio.h>

#include "tagsight-window.h"
#include "ts-showbatch.h"
#include "app-test.h"

static gboolean have_display;
static char *tmp;
static char *csv;

static gboolean
data_loaded (gpointer data)
{
  TagsightDataPage *page = tagsight_window_get_data_page (data);

  return !tagsight_data_page_get_busy (page);
}

static GdkPaintable *
batch_paintable (TagsightWindow *win)
{
  return tagsight_batch_page_get_paintable (tagsight_window_get_batch_page (win));
}

static gboolean
batch_drawn (gpointer data)
{
  return tagsight_batch_page_get_paintable (tagsight_window_get_batch_page (data)) != NULL;
}

static GdkPaintable *first_batch;

static gboolean
batch_changed (gpointer data)
{
  GdkPaintable *p = tagsight_batch_page_get_paintable (tagsight_window_get_batch_page (data));

  return p != NULL && p != first_batch;
}

static int want_w, want_h;

static gboolean
batch_has_size (gpointer data)
{
  GdkPaintable *p = tagsight_batch_page_get_paintable (tagsight_window_get_batch_page (data));

  return p != NULL && gdk_paintable_get_intrinsic_width (p) == want_w
         && gdk_paintable_get_intrinsic_height (p) == want_h;
}

static gboolean
wait_for_size (TagsightWindow *win, int w, int h)
{
  want_w = w;
  want_h = h;
  return app_test_wait_for (batch_has_size, win, 60);
}

static void
on_failed (TagsightDataPage *page, const char *message, char **out)
{
  g_free (*out);
  *out = g_strdup (message);
}

static GtkWidget *
find_row (GtkWidget *widget, GType type, const char *title)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type)
      && g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0)
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL;
       c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = find_row (c, type, title);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
test_open_and_batch (void)
{
  TagsightWindow *win;
  TagsightDataset *ds;
  GtkWidget *row, *spin = NULL;
  int cols, rows, w, h;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = tagsight_window_new (NULL);
  gtk_window_present (GTK_WINDOW (win));
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "start");

  tagsight_window_open_csv (win, csv);
  g_assert_true (app_test_wait_for (data_loaded, win, 60));
  ds = tagsight_data_page_get_dataset (tagsight_window_get_data_page (win));
  g_assert_nonnull (ds);
  g_assert_cmpint (tagsight_dataset_get_datablock (ds)->n_items, ==, 24);
  g_assert_cmpint (tagsight_dataset_get_summary (ds)->n_vocab, >, 0);
  g_assert_cmpstr (tagsight_dataset_get_mapping (ds)->fname_col, ==, "fname");
  g_assert_cmpstr (tagsight_dataset_get_mapping (ds)->split_col, ==, "is_valid");
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "data");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.page", "s", "batch"));
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "batch");
  g_assert_true (app_test_wait_for (batch_drawn, win, 60));
  first_batch = g_object_ref (batch_paintable (win));
  /* the default 9 cells of 128 px, laid out by ts-showbatch itself */
  ts_showbatch_layout (9, 128, &cols, &rows, &w, &h);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (first_batch), ==, w);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (first_batch), ==, h);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.reroll", NULL));
  g_assert_true (app_test_wait_for (batch_changed, win, 60));
  g_set_object (&first_batch, batch_paintable (win));

  /* "Unique" and the image count apply live */
  row = find_row (GTK_WIDGET (win), ADW_TYPE_ACTION_ROW, "Unique");
  g_assert_nonnull (row);
  gtk_switch_set_active (GTK_SWITCH (adw_action_row_get_activatable_widget (ADW_ACTION_ROW (row))),
                         TRUE);
  row = find_row (GTK_WIDGET (win), ADW_TYPE_ACTION_ROW, "Images");
  g_assert_nonnull (row);
  for (GtkWidget *c = gtk_widget_get_first_child (row); c != NULL && spin == NULL;
       c = gtk_widget_get_next_sibling (c))
    spin = app_test_find_widget_of_type (c, GTK_TYPE_SPIN_BUTTON);
  g_assert_nonnull (spin);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), 4);
  /* the render coalesces both changes; its grid has 4 cells */
  ts_showbatch_layout (4, 128, &cols, &rows, &w, &h);
  g_assert_true (wait_for_size (win, w, h));
  g_clear_object (&first_batch);
  gtk_window_destroy (GTK_WINDOW (win));
}

static gboolean
split_is_none (gpointer data)
{
  TagsightDataset *ds = tagsight_data_page_get_dataset (tagsight_window_get_data_page (data));

  return data_loaded (data) && ds != NULL
         && tagsight_dataset_get_mapping (ds)->split == TS_SPLIT_NONE;
}

static void
test_mapping_edit (void)
{
  TagsightWindow *win;
  TagsightDataset *ds;
  GtkWidget *split_row;
  GListModel *model;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = tagsight_window_new (NULL);
  gtk_window_present (GTK_WINDOW (win));
  tagsight_window_open_csv (win, csv);
  g_assert_true (app_test_wait_for (data_loaded, win, 60));
  ds = tagsight_data_page_get_dataset (tagsight_window_get_data_page (win));
  g_assert_cmpint (tagsight_dataset_get_summary (ds)->n_valid, >, 0);

  /* the user picks "None" in the split row: the summary is rebuilt on a worker */
  split_row = find_row (GTK_WIDGET (win), ADW_TYPE_COMBO_ROW, "Validation split");
  g_assert_nonnull (split_row);
  model = adw_combo_row_get_model (ADW_COMBO_ROW (split_row));
  adw_combo_row_set_selected (ADW_COMBO_ROW (split_row), g_list_model_get_n_items (model) - 1);
  g_assert_true (app_test_wait_for (split_is_none, win, 60));
  ds = tagsight_data_page_get_dataset (tagsight_window_get_data_page (win));
  g_assert_cmpint (tagsight_dataset_get_summary (ds)->n_valid, ==, 0);
  g_assert_cmpint (tagsight_dataset_get_summary (ds)->n_train, ==, 24);
  gtk_window_destroy (GTK_WINDOW (win));
}

static void
test_bad_csv (void)
{
  g_autofree char *bad = g_build_filename (tmp, "bad.csv", NULL);
  g_autofree char *message = NULL;
  TagsightWindow *win;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_true (g_file_set_contents (bad, "name,tags\na.jpg,x\n", -1, NULL));
  win = tagsight_window_new (NULL);
  g_signal_connect (tagsight_window_get_data_page (win), "failed", G_CALLBACK (on_failed),
                    &message);
  gtk_window_present (GTK_WINDOW (win));
  tagsight_window_open_csv (win, bad);
  g_assert_true (app_test_wait_for (data_loaded, win, 30));
  /* detected: name -> file names, tags -> labels; but a.jpg is missing */
  g_assert_nonnull (message);
  g_test_message ("bad CSV: %s", message);

  g_clear_pointer (&message, g_free);
  tagsight_window_open_csv (win, "/nonexistent/x.csv");
  g_assert_true (app_test_wait_for (data_loaded, win, 30));
  g_assert_nonnull (message);
  g_assert_nonnull (strstr (message, "/nonexistent/x.csv"));
  g_assert_null (tagsight_data_page_get_dataset (tagsight_window_get_data_page (win)));
  gtk_window_destroy (GTK_WINDOW (win));
}

int
main (int argc, char **argv)
{
  tmp = app_test_init (&argc, &argv, &have_display);
  csv = app_test_demo_csv (tmp, 24, 64);

  g_test_add_func ("/app/window/open-and-batch", test_open_and_batch);
  g_test_add_func ("/app/window/mapping-edit", test_mapping_edit);
  g_test_add_func ("/app/window/bad-csv", test_bad_csv);
  return app_test_run (tmp, csv);
}
