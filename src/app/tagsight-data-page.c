/* tagsight-data-page.c: the Data page (see tagsight-data-page.h). */
#include "tagsight-data-page.h"

#include <glib/gi18n.h>
#include <string.h>

#include "tagsight-chart.h"
#include "tagsight-item.h"
#include "tagsight-thumbnailer.h"

#define THUMB_SIDE 112
#define THUMB_CACHE 2000
#define MAX_CHIPS 3
#define RELOAD_DELAY_MS 300

static const char *const delimiters[] = { " ", ";", ",", "|" };

struct _TagsightDataPage
{
  GtkWidget parent_instance;

  AdwComboRow *fname_row;
  AdwComboRow *labels_row;
  AdwComboRow *delim_row;
  AdwEntryRow *image_dir_row;
  AdwComboRow *split_row;
  GtkWidget *folder_box;
  GtkLabel *folder_label;
  GtkWidget *busy_box;
  GtkLabel *error_label;
  GtkBox *summary_box;
  GtkDropDown *label_filter;
  GtkDropDown *split_filter;
  GtkDropDown *problem_filter;
  GtkLabel *count_label;
  GtkStack *grid_stack;
  AdwStatusPage *empty_page;
  GtkGridView *grid_view;

  char *csv_path;
  char *data_folder;            /* granted through the folder chooser */
  char *asked_for;              /* the CSV the sandbox prompt was shown for */
  GtkFileChooserNative *chooser;
  TagsightDataset *dataset;
  GCancellable *cancellable;
  guint reload_id;
  gboolean populating;
  GStrv columns;                /* what the column combo rows show */

  GListStore *store;
  GtkCustomFilter *filter;
  GtkFilterListModel *filtered;
  TagsightThumbnailer *thumbnailer;
  int problem_kinds[TS_PROBLEM_N_KINDS];  /* problem filter entry -> kind */
};

enum { SIGNAL_DATASET_CHANGED, SIGNAL_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (TagsightDataPage, tagsight_data_page, GTK_TYPE_WIDGET)

static void start_load (TagsightDataPage *self, const TagsightMapping *mapping);

/* --- the grid ---------------------------------------------------------- */

/* Problems whose rows stay in the data set, so the grid can show them; the
 * other kinds skip their rows. */
static gboolean
problem_keeps_rows (ts_problem_kind kind)
{
  return kind == TS_PROBLEM_LABEL_WHITESPACE || kind == TS_PROBLEM_UNKNOWN_LABEL;
}

/* "missing image files" -> "Missing image files" */
static char *
capitalized (const char *text)
{
  char *s = g_strdup (text);

  if (s[0] != '\0')
    s[0] = g_ascii_toupper (s[0]);
  return s;
}

static gboolean
filter_item (gpointer object, gpointer user_data)
{
  TagsightDataPage *self = user_data;
  TagsightItem *item = object;
  guint label = gtk_drop_down_get_selected (self->label_filter);
  guint split = gtk_drop_down_get_selected (self->split_filter);
  guint problem = gtk_drop_down_get_selected (self->problem_filter);

  if (label == 1 && tagsight_item_get_label_names (item)[0] != NULL)
    return FALSE;
  if (label >= 2 && label != GTK_INVALID_LIST_POSITION
      && !tagsight_item_has_label (item, (int) label - 2))
    return FALSE;
  if (split == 1 && tagsight_item_get_is_valid (item))
    return FALSE;
  if (split == 2 && !tagsight_item_get_is_valid (item))
    return FALSE;
  if (problem >= 1 && problem != GTK_INVALID_LIST_POSITION && self->dataset != NULL)
    {
      const ts_summary *s = tagsight_dataset_get_summary (self->dataset);
      const ts_problem *p = &s->problems[self->problem_kinds[problem - 1]];
      int line = tagsight_item_get_csv_line (item);

      for (int i = 0; i < p->n_examples; i++)
        if (p->example_lines[i] == line)
          return TRUE;
      return FALSE;
    }
  return TRUE;
}

static void
update_count (TagsightDataPage *self)
{
  guint shown = g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
  guint total = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  gboolean filtering;
  g_autofree char *text = g_strdup_printf (ngettext ("%u of %u item", "%u of %u items", total),
                                           shown, total);

  gtk_label_set_text (self->count_label, text);
  if (total == 0)
    {
      adw_status_page_set_icon_name (self->empty_page, "image-missing-symbolic");
      adw_status_page_set_title (self->empty_page, _("No Usable Items"));
      adw_status_page_set_description (self->empty_page,
                                       self->csv_path != NULL
                                       ? _("Check the columns and the image folder on the left.")
                                       : _("Open a CSV to see its images."));
    }
  else
    {
      adw_status_page_set_icon_name (self->empty_page, "edit-find-symbolic");
      adw_status_page_set_title (self->empty_page, _("No Matching Items"));
      adw_status_page_set_description (self->empty_page,
                                       _("Change the filters above to see more."));
    }
  /* while the incremental filter runs, shown can still be 0: not "empty" yet */
  filtering = total > 0 && gtk_filter_list_model_get_pending (self->filtered) > 0;
  gtk_stack_set_visible_child_name (self->grid_stack, shown > 0 || filtering ? "grid" : "empty");
}

static void
on_filter_changed (TagsightDataPage *self)
{
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  update_count (self);
}

static void
setup_cell (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  GtkWidget *frame = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *picture = gtk_picture_new ();
  GtkWidget *name = gtk_label_new (NULL);
  GtkWidget *chips = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 3);

  gtk_widget_add_css_class (box, "thumbnail-cell");
  gtk_widget_add_css_class (frame, "thumbnail-frame");
  gtk_widget_set_size_request (frame, THUMB_SIDE, THUMB_SIDE);
  gtk_widget_set_halign (frame, GTK_ALIGN_CENTER);
  gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
  gtk_picture_set_content_fit (GTK_PICTURE (picture), GTK_CONTENT_FIT_CONTAIN);
  gtk_widget_set_vexpand (picture, TRUE);
  gtk_box_append (GTK_BOX (frame), picture);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (name), 14);
  gtk_widget_add_css_class (name, "caption");
  gtk_widget_add_css_class (name, "dim-label");
  gtk_widget_set_halign (chips, GTK_ALIGN_CENTER);
  for (int i = 0; i < MAX_CHIPS + 1; i++)
    {
      GtkWidget *chip = gtk_label_new (NULL);

      gtk_label_set_ellipsize (GTK_LABEL (chip), PANGO_ELLIPSIZE_END);
      gtk_widget_add_css_class (chip, "chip");
      gtk_box_append (GTK_BOX (chips), chip);
    }
  gtk_box_append (GTK_BOX (box), frame);
  gtk_box_append (GTK_BOX (box), name);
  gtk_box_append (GTK_BOX (box), chips);
  gtk_list_item_set_child (list_item, box);
}

static void
bind_cell (GtkSignalListItemFactory *factory, GtkListItem *list_item, TagsightDataPage *self)
{
  TagsightItem *item = gtk_list_item_get_item (list_item);
  GtkWidget *box = gtk_list_item_get_child (list_item);
  GtkWidget *frame = gtk_widget_get_first_child (box);
  GtkWidget *picture = gtk_widget_get_first_child (frame);
  GtkWidget *name = gtk_widget_get_next_sibling (frame);
  GtkWidget *chips = gtk_widget_get_next_sibling (name);
  const char *const *labels = tagsight_item_get_label_names (item);
  g_autofree char *joined = g_strjoinv ("; ", (char **) labels);
  g_autofree char *tip = NULL;
  GBinding *binding;
  GtkWidget *child;
  guint n = g_strv_length ((char **) labels), show;
  glong total_chars = 0;

  binding = g_object_bind_property (item, "thumbnail", picture, "paintable", G_BINDING_SYNC_CREATE);
  g_object_set_data (G_OBJECT (list_item), "binding", binding);
  tagsight_thumbnailer_request (self->thumbnailer, item);

  gtk_label_set_text (GTK_LABEL (name), tagsight_item_get_fname (item));
  /* as many chips as fit under a thumbnail (about 17 characters), the rest
   * counted; the chip labels are made once in setup_cell and reused, so
   * binding a page of cells while scrolling creates no widgets */
  for (guint i = 0; i < n; i++)
    total_chars += g_utf8_strlen (labels[i], -1) + 2;
  show = total_chars <= 17 ? MIN (n, MAX_CHIPS) : MIN (n, 2);
  child = gtk_widget_get_first_child (chips);
  for (guint i = 0; i < MAX_CHIPS + 1; i++, child = gtk_widget_get_next_sibling (child))
    {
      GtkLabel *chip = GTK_LABEL (child);
      gboolean is_more = i == MAX_CHIPS;

      if (is_more)
        {
          g_autofree char *more = NULL;

          if (n == 0)
            {
              gtk_label_set_text (chip, _("no label"));
              gtk_widget_add_css_class (child, "dim-label");
            }
          else
            {
              more = g_strdup_printf ("+%u", n - show);
              gtk_label_set_text (chip, more);
              gtk_widget_remove_css_class (child, "dim-label");
            }
          gtk_widget_set_visible (child, n == 0 || n > show);
          continue;
        }
      gtk_widget_set_visible (child, i < show);
      if (i >= show)
        continue;
      gtk_label_set_text (chip, labels[i]);
      gtk_label_set_max_width_chars (chip, show > 1 ? 6 : 14);
      if (tagsight_item_get_is_valid (item))
        gtk_widget_add_css_class (child, "valid");
      else
        gtk_widget_remove_css_class (child, "valid");
    }
  tip = g_strdup_printf (_("%s\nLabels: %s\n%s, CSV line %d%s%s"), tagsight_item_get_fname (item),
                         n > 0 ? joined : _("none"),
                         tagsight_item_get_is_valid (item) ? _("Validation") : _("Training"),
                         tagsight_item_get_csv_line (item),
                         tagsight_item_get_thumbnail_error (item) != NULL ? "\n" : "",
                         tagsight_item_get_thumbnail_error (item) != NULL
                         ? tagsight_item_get_thumbnail_error (item) : "");
  gtk_widget_set_tooltip_text (box, tip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (picture), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  tagsight_item_get_fname (item), -1);
}

static void
unbind_cell (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer user_data)
{
  GBinding *binding = g_object_get_data (G_OBJECT (list_item), "binding");

  if (binding != NULL)
    g_binding_unbind (binding);
  g_object_set_data (G_OBJECT (list_item), "binding", NULL);
}

static void
fill_grid (TagsightDataPage *self)
{
  const ts_datablock *db = self->dataset != NULL
                           ? tagsight_dataset_get_datablock (self->dataset) : NULL;
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GtkStringList) labels = gtk_string_list_new (NULL);
  g_autoptr (GtkStringList) problems = gtk_string_list_new (NULL);
  int n_kinds = 0;

  /* empty the grid first, so the filter changes below refilter nothing */
  g_list_store_remove_all (self->store);
  tagsight_thumbnailer_reset (self->thumbnailer);
  gtk_string_list_append (labels, _("All labels"));
  gtk_string_list_append (labels, _("No label"));
  gtk_string_list_append (problems, _("All items"));
  if (db != NULL)
    {
      const ts_summary *s = tagsight_dataset_get_summary (self->dataset);

      for (int i = 0; i < db->n_items; i++)
        g_ptr_array_add (items, tagsight_item_new (self->dataset, i));
      for (int i = 0; i < db->n_vocab; i++)
        gtk_string_list_append (labels, db->vocab[i]);
      for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
        if (s->problems[k].count > 0 && problem_keeps_rows (k))
          {
            g_autofree char *name = capitalized (ts_problem_kind_name (k));
            g_autofree char *text = g_strdup_printf ("%s (%d)", name, s->problems[k].count);

            gtk_string_list_append (problems, text);
            self->problem_kinds[n_kinds++] = k;
          }
    }
  self->populating = TRUE;
  gtk_drop_down_set_model (self->label_filter, G_LIST_MODEL (labels));
  gtk_drop_down_set_model (self->problem_filter, G_LIST_MODEL (problems));
  gtk_widget_set_sensitive (GTK_WIDGET (self->problem_filter), n_kinds > 0);
  self->populating = FALSE;
  g_list_store_splice (self->store, 0, 0, items->pdata, items->len);
  on_filter_changed (self);
}

/* --- the summary ------------------------------------------------------- */

static GtkWidget *
value_row (const char *title, const char *value)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *label = gtk_label_new (value);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_label_set_selectable (GTK_LABEL (label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 1);
  gtk_label_set_justify (GTK_LABEL (label), GTK_JUSTIFY_RIGHT);
  gtk_widget_add_css_class (label, "numeric");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), label);
  return row;
}

static GtkWidget *
group_new (GtkBox *box, const char *title, const char *description)
{
  GtkWidget *group = adw_preferences_group_new ();

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), title);
  if (description != NULL)
    adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group), description);
  gtk_box_append (box, group);
  return group;
}

static void
add_counts (TagsightDataPage *self, const ts_summary *s)
{
  GtkWidget *group = group_new (self->summary_box, _("Overview"), NULL);
  AdwPreferencesGroup *g = ADW_PREFERENCES_GROUP (group);
  g_autofree char *rows = g_strdup_printf ("%d", s->n_rows);
  g_autofree char *items = g_strdup_printf ("%d", s->n_items);
  /* TRANSLATORS: items of a split, the plural for those without labels */
  g_autofree char *train = g_strdup_printf (ngettext ("%d (%d without labels)",
                                                      "%d (%d without labels)",
                                                      s->n_no_label_train),
                                            s->n_train, s->n_no_label_train);
  g_autofree char *valid = g_strdup_printf (ngettext ("%d (%d without labels)",
                                                      "%d (%d without labels)",
                                                      s->n_no_label_valid),
                                            s->n_valid, s->n_no_label_valid);
  g_autofree char *per_item = g_strdup_printf ("%.2f", s->n_items > 0
                                               ? (double) s->n_labels_total / s->n_items : 0.0);
  g_autoptr (GString) shapes = g_string_new (NULL);

  adw_preferences_group_add (g, value_row (_("Rows read"), rows));
  adw_preferences_group_add (g, value_row (_("Usable items"), items));
  adw_preferences_group_add (g, value_row (_("Training"), train));
  adw_preferences_group_add (g, value_row (_("Validation"), valid));
  adw_preferences_group_add (g, value_row (_("Split"), s->split));
  adw_preferences_group_add (g, value_row (_("Labels per item"), per_item));
  for (int i = 0; i < s->n_shapes && i < 3; i++)
    g_string_append_printf (shapes, "%s%d × %d %s (%d)", i > 0 ? "\n" : "", s->shapes[i].width,
                            s->shapes[i].height, s->shapes[i].mode, s->shapes[i].count);
  if (s->n_shapes > 3)
    g_string_append_printf (shapes, ngettext ("\n… %d more size", "\n… %d more sizes",
                                              s->n_shapes - 3), s->n_shapes - 3);
  if (s->n_shapes > 0)
    adw_preferences_group_add (g, value_row (_("Image sizes"), shapes->str));
  if (!s->image_dir_exists)
    adw_preferences_group_add (g, value_row (_("Image folder"), _("does not exist")));
}

static void
add_vocab (TagsightDataPage *self, const ts_summary *s)
{
  g_autofree char *title = g_strdup_printf (ngettext ("Vocab (%d label)", "Vocab (%d labels)",
                                                     s->n_vocab), s->n_vocab);
  GtkWidget *group = group_new (self->summary_box, title,
                                _("Labels seen in the training set, in sorted order"));
  GtkWidget *flow = gtk_flow_box_new ();
  GtkWidget *chart;
  g_autofree double *train = g_new0 (double, MAX (s->n_vocab, 1));
  g_autofree double *valid = g_new0 (double, MAX (s->n_vocab, 1));

  gtk_flow_box_set_selection_mode (GTK_FLOW_BOX (flow), GTK_SELECTION_NONE);
  gtk_flow_box_set_column_spacing (GTK_FLOW_BOX (flow), 6);
  gtk_flow_box_set_row_spacing (GTK_FLOW_BOX (flow), 6);
  gtk_flow_box_set_max_children_per_line (GTK_FLOW_BOX (flow), 40);
  for (int i = 0; i < s->n_vocab; i++)
    {
      GtkWidget *chip = gtk_label_new (s->vocab[i]);

      gtk_widget_add_css_class (chip, "chip");
      gtk_flow_box_append (GTK_FLOW_BOX (flow), chip);
      train[i] = s->classes[i].n_train;
      valid[i] = s->classes[i].n_valid;
    }
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), flow);

  group = group_new (self->summary_box, _("Items per label"),
                     _("How many training and validation items carry each label"));
  chart = tagsight_chart_new ();
  tagsight_chart_set_categories (TAGSIGHT_CHART (chart), (const char *const *) s->vocab,
                                 s->n_vocab);
  tagsight_chart_add_bars (TAGSIGHT_CHART (chart), _("Training"), train, s->n_vocab, NULL);
  tagsight_chart_add_bars (TAGSIGHT_CHART (chart), _("Validation"), valid, s->n_vocab, NULL);
  gtk_accessible_update_property (GTK_ACCESSIBLE (chart), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Bar chart of training and validation items per label"), -1);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), chart);
}

static void
add_steps (GtkWidget *group, const ts_summary_step *steps, int n)
{
  for (int i = 0; i < n; i++)
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *name = gtk_label_new (steps[i].name);

      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), steps[i].what);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), steps[i].value != NULL
                                   ? steps[i].value : "");
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 3);
      gtk_widget_set_size_request (name, 64, -1);
      gtk_label_set_xalign (GTK_LABEL (name), 0);
      gtk_widget_add_css_class (name, "dim-label");
      gtk_widget_add_css_class (name, "caption-heading");
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), name);
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
    }
}

static void
add_trace (TagsightDataPage *self, const ts_summary *s)
{
  g_autofree char *desc = NULL;
  GtkWidget *group;

  if (s->sample_item < 0)
    return;
  /* whole sentences, so each language can inflect "validation item" */
  desc = g_strdup_printf (s->sample_is_valid
                          ? _("CSV line %d, a validation item, through every step")
                          : _("CSV line %d, a training item, through every step"),
                          s->sample_line);
  group = group_new (self->summary_box, _("Pipeline for One Item"), desc);
  add_steps (group, s->steps, s->n_steps);
  if (s->n_tfm_steps > 0)
    {
      group = group_new (self->summary_box, _("Then the Loader"),
                         _("What happens to each image when a batch is made"));
      add_steps (group, s->tfm_steps, s->n_tfm_steps);
    }
}

static void
on_show_problem (GtkButton *button, TagsightDataPage *self)
{
  int kind = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "kind"));

  for (int i = 0; i < TS_PROBLEM_N_KINDS; i++)
    if (self->problem_kinds[i] == kind)
      {
        gtk_drop_down_set_selected (self->label_filter, 0);
        gtk_drop_down_set_selected (self->split_filter, 0);
        gtk_drop_down_set_selected (self->problem_filter, i + 1);
        return;
      }
}

static void
add_problems (TagsightDataPage *self, const ts_summary *s)
{
  g_autofree char *title = NULL;
  GtkWidget *group;

  if (s->n_problem_rows == 0)
    {
      group = group_new (self->summary_box, _("Problems"), NULL);
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (group),
                                 value_row (_("None found"), "✓"));
      return;
    }
  title = g_strdup_printf (ngettext ("Problems (%d row)", "Problems (%d rows)",
                                     s->n_problem_rows), s->n_problem_rows);
  group = group_new (self->summary_box, title,
                     _("Expand one to see example rows; rows that were kept can be "
                       "shown in the grid"));
  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    {
      const ts_problem *p = &s->problems[k];
      g_autofree char *name = NULL;
      g_autofree char *cap = NULL;
      GtkWidget *row, *button;

      if (p->count == 0)
        continue;
      cap = capitalized (ts_problem_kind_name (k));
      name = g_strdup_printf ("%s: %d", cap, p->count);
      row = adw_expander_row_new ();
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_expander_row_set_subtitle (ADW_EXPANDER_ROW (row), ts_problem_kind_action (k));
      if (problem_keeps_rows (k))
        {
          button = gtk_button_new_from_icon_name ("view-grid-symbolic");
          gtk_widget_set_tooltip_text (button, _("Show these rows in the grid"));
          gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                          _("Show these rows in the grid"), -1);
          gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
          gtk_widget_add_css_class (button, "flat");
          g_object_set_data (G_OBJECT (button), "kind", GINT_TO_POINTER (k));
          g_signal_connect (button, "clicked", G_CALLBACK (on_show_problem), self);
          adw_expander_row_add_action (ADW_EXPANDER_ROW (row), button);
        }
      for (int i = 0; i < p->n_examples; i++)
        {
          GtkWidget *ex = adw_action_row_new ();
          g_autofree char *line = g_strdup_printf (_("Line %d"), p->example_lines[i]);

          adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (ex), FALSE);
          adw_preferences_row_set_title (ADW_PREFERENCES_ROW (ex), line);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (ex), p->example_text[i] != NULL
                                       ? p->example_text[i] : "");
          adw_expander_row_add_row (ADW_EXPANDER_ROW (row), ex);
        }
      if (p->count > p->n_examples)
        {
          int rest = p->count - p->n_examples;
          g_autofree char *more = g_strdup_printf (ngettext ("and %d more", "and %d more", rest),
                                                   rest);

          adw_expander_row_add_row (ADW_EXPANDER_ROW (row), value_row (more, ""));
        }
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
    }
}

static void
show_summary (TagsightDataPage *self)
{
  const ts_summary *s = self->dataset != NULL
                        ? tagsight_dataset_get_summary (self->dataset) : NULL;
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->summary_box))) != NULL)
    gtk_box_remove (self->summary_box, child);
  if (s == NULL)
    return;
  add_counts (self, s);
  add_problems (self, s);
  add_vocab (self, s);
  add_trace (self, s);
}

/* --- the mapping ------------------------------------------------------- */

static int
column_index (TagsightDataPage *self, const char *name)
{
  for (int i = 0; name != NULL && self->columns != NULL && self->columns[i] != NULL; i++)
    if (g_strcmp0 (self->columns[i], name) == 0)
      return i;
  return -1;
}

static void
show_mapping (TagsightDataPage *self)
{
  const TagsightMapping *m = tagsight_dataset_get_mapping (self->dataset);
  const char *const *cols = tagsight_dataset_get_columns (self->dataset);
  g_autoptr (GtkStringList) names = gtk_string_list_new (cols);
  g_autoptr (GtkStringList) splits = gtk_string_list_new (NULL);
  guint n_cols = g_strv_length ((char **) cols);
  int i;

  self->populating = TRUE;
  g_strfreev (self->columns);
  self->columns = g_strdupv ((char **) cols);
  adw_combo_row_set_model (self->fname_row, G_LIST_MODEL (names));
  adw_combo_row_set_model (self->labels_row, G_LIST_MODEL (names));
  i = column_index (self, m->fname_col);
  adw_combo_row_set_selected (self->fname_row, i >= 0 ? (guint) i : GTK_INVALID_LIST_POSITION);
  i = column_index (self, m->labels_col);
  adw_combo_row_set_selected (self->labels_row, i >= 0 ? (guint) i : GTK_INVALID_LIST_POSITION);
  for (i = 0; i < (int) G_N_ELEMENTS (delimiters); i++)
    if (g_strcmp0 (m->label_delim, delimiters[i]) == 0)
      adw_combo_row_set_selected (self->delim_row, i);

  for (guint c = 0; c < n_cols; c++)
    {
      g_autofree char *text = g_strdup_printf (_("Column “%s”"), cols[c]);

      gtk_string_list_append (splits, text);
    }
  gtk_string_list_append (splits, _("Random 20%"));
  gtk_string_list_append (splits, _("None (everything trains)"));
  adw_combo_row_set_model (self->split_row, G_LIST_MODEL (splits));
  if (m->split == TS_SPLIT_COLUMN && column_index (self, m->split_col) >= 0)
    adw_combo_row_set_selected (self->split_row, column_index (self, m->split_col));
  else if (m->split == TS_SPLIT_NONE)
    adw_combo_row_set_selected (self->split_row, n_cols + 1);
  else
    adw_combo_row_set_selected (self->split_row, n_cols);

  if (!gtk_widget_has_focus (GTK_WIDGET (self->image_dir_row)) && m->image_dir != NULL)
    {
      /* relative to the CSV when inside its folder, as the datablock reads
       * relative paths: shorter, and it survives moving the folder */
      g_autofree char *csv_dir = g_path_get_dirname (tagsight_dataset_get_path (self->dataset));
      g_autofree char *prefix = g_strconcat (csv_dir, G_DIR_SEPARATOR_S, NULL);
      const char *shown = m->image_dir;

      if (g_strcmp0 (m->image_dir, csv_dir) == 0)
        shown = ".";
      else if (g_str_has_prefix (m->image_dir, prefix) && m->image_dir[strlen (prefix)] != '\0')
        shown = m->image_dir + strlen (prefix);
      gtk_editable_set_text (GTK_EDITABLE (self->image_dir_row), shown);
    }
  self->populating = FALSE;
}

static void
read_mapping (TagsightDataPage *self, TagsightMapping *m)
{
  guint n_cols = self->columns != NULL ? g_strv_length (self->columns) : 0;
  guint f = adw_combo_row_get_selected (self->fname_row);
  guint l = adw_combo_row_get_selected (self->labels_row);
  guint d = adw_combo_row_get_selected (self->delim_row);
  guint sp = adw_combo_row_get_selected (self->split_row);
  const char *dir = gtk_editable_get_text (GTK_EDITABLE (self->image_dir_row));

  memset (m, 0, sizeof *m);
  m->fname_col = f < n_cols ? g_strdup (self->columns[f]) : NULL;
  m->labels_col = l < n_cols ? g_strdup (self->columns[l]) : NULL;
  m->label_delim = g_strdup (d < G_N_ELEMENTS (delimiters) ? delimiters[d] : " ");
  m->image_dir = dir != NULL && *dir != '\0' ? g_strdup (dir) : NULL;
  m->valid_pct = 0.2;
  if (sp < n_cols)
    {
      m->split = TS_SPLIT_COLUMN;
      m->split_col = g_strdup (self->columns[sp]);
    }
  else if (sp == n_cols + 1)
    m->split = TS_SPLIT_NONE;
  else
    m->split = TS_SPLIT_RANDOM;
}

static gboolean
reload_now (gpointer data)
{
  TagsightDataPage *self = data;
  TagsightMapping m;

  self->reload_id = 0;
  read_mapping (self, &m);
  start_load (self, &m);
  tagsight_mapping_clear (&m);
  return G_SOURCE_REMOVE;
}

static void
on_mapping_changed (TagsightDataPage *self)
{
  if (self->populating || self->csv_path == NULL)
    return;
  /* re-run the summary once the user pauses, not on every step */
  g_clear_handle_id (&self->reload_id, g_source_remove);
  self->reload_id = g_timeout_add (RELOAD_DELAY_MS, reload_now, self);
}

/* --- file access ------------------------------------------------------ */

/* The images are out of reach rather than a few of them missing: the folder
 * is not there, or at least half the rows name a file that is not.  A CSV
 * opened through the file chooser portal looks exactly like this. */
static gboolean
images_unreadable (const ts_summary *s)
{
  int missing = s->problems[TS_PROBLEM_MISSING_FILE].count;

  return !s->image_dir_exists || (missing > 0 && missing >= s->n_items);
}

static void
on_folder_response (GtkNativeDialog *dialog, int response, TagsightDataPage *self)
{
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      G_GNUC_END_IGNORE_DEPRECATIONS

      path = file != NULL ? g_file_get_path (file) : NULL;
    }
  g_clear_object (&self->chooser);
  if (path != NULL)
    tagsight_data_page_set_data_folder (self, path);
  g_object_unref (self);
}

/* @start: where the chooser opens; NULL leaves it to the chooser. */
static void
show_folder_chooser (TagsightDataPage *self, const char *start)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (self->chooser != NULL)
    return;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  self->chooser = gtk_file_chooser_native_new (_("Choose the Data Folder"),
                                               GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                               GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                               _("_Select"), _("_Cancel"));
  if (start != NULL)
    {
      g_autoptr (GFile) dir = g_file_new_for_path (start);

      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (self->chooser), dir, NULL);
    }
  G_GNUC_END_IGNORE_DEPRECATIONS
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (on_folder_response),
                    g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

/* The document portal knows where a document lives on the host; the
 * chooser then opens in the CSV's real folder and granting it is one click. */
static void
on_host_paths (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TagsightDataPage) self = user_data;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                              result, NULL);
  g_autofree char *doc_id = NULL;
  g_autofree char *host_dir = NULL;

  if (reply != NULL && self->csv_path != NULL
      && tagsight_is_portal_document (self->csv_path, &doc_id))
    {
      g_autoptr (GVariant) paths = g_variant_get_child_value (reply, 0);
      g_autoptr (GVariant) path = g_variant_lookup_value (paths, doc_id,
                                                          G_VARIANT_TYPE_BYTESTRING);

      if (path != NULL)
        host_dir = g_path_get_dirname (g_variant_get_bytestring (path));
    }
  /* the window may have closed while the portal answered */
  if (gtk_widget_get_root (GTK_WIDGET (self)) != NULL)
    show_folder_chooser (self, host_dir);
}

static void
choose_folder (TagsightDataPage *self)
{
  g_autoptr (GDBusConnection) bus = NULL;
  g_autofree char *doc_id = NULL;
  g_autofree char *csv_dir = NULL;

  if (self->csv_path == NULL)
    {
      show_folder_chooser (self, NULL);
      return;
    }
  if (!tagsight_is_portal_document (self->csv_path, &doc_id))
    {
      csv_dir = g_path_get_dirname (self->csv_path);
      show_folder_chooser (self, csv_dir);
      return;
    }
  /* GetHostPaths is new (xdg-desktop-portal 1.17): without it, no start */
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  if (bus == NULL)
    {
      show_folder_chooser (self, NULL);
      return;
    }
  g_dbus_connection_call (bus, "org.freedesktop.portal.Documents",
                          "/org/freedesktop/portal/documents",
                          "org.freedesktop.portal.Documents", "GetHostPaths",
                          g_variant_new ("(^as)", (const char *const[]) { doc_id, NULL }),
                          G_VARIANT_TYPE ("(a{say})"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                          on_host_paths, g_object_ref (self));
}

static void
choose_folder_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  choose_folder (TAGSIGHT_DATA_PAGE (widget));
}

/* Offers the folder chooser when the images are out of reach; in a sandbox
 * it opens by itself, once per CSV, since there that is the only way on. */
static void
update_folder_box (TagsightDataPage *self)
{
  const ts_summary *s = self->dataset != NULL
                        ? tagsight_dataset_get_summary (self->dataset) : NULL;
  gboolean sandboxed = tagsight_in_sandbox ();
  g_autofree char *text = NULL;

  if (s == NULL || !images_unreadable (s))
    {
      gtk_widget_set_visible (self->folder_box, FALSE);
      return;
    }
  if (self->data_folder != NULL)
    text = g_strdup_printf (_("None of the images this CSV names are in “%s”. Choose the "
                              "folder that holds the CSV and its images."), self->data_folder);
  else if (sandboxed)
    text = g_strdup (_("Tagsight can read this CSV but not the images beside it: in its "
                       "sandbox it sees only the files you choose. Choose the folder that "
                       "holds the CSV and its images."));
  else
    text = g_strdup_printf (_("The images this CSV names cannot be read from “%s”. Choose "
                              "the folder that holds them."), s->image_dir);
  gtk_label_set_text (self->folder_label, text);
  gtk_widget_set_visible (self->folder_box, TRUE);
  if (sandboxed && self->data_folder == NULL && g_strcmp0 (self->asked_for, self->csv_path) != 0)
    {
      g_free (self->asked_for);
      self->asked_for = g_strdup (self->csv_path);
      choose_folder (self);
    }
}

void
tagsight_data_page_set_data_folder (TagsightDataPage *self, const char *folder)
{
  TagsightMapping m;

  g_return_if_fail (TAGSIGHT_IS_DATA_PAGE (self));
  g_return_if_fail (folder != NULL);
  if (self->csv_path == NULL)
    return;
  g_free (self->data_folder);
  self->data_folder = g_strdup (folder);
  g_clear_handle_id (&self->reload_id, g_source_remove);
  read_mapping (self, &m);
  m.data_folder = g_strdup (folder);
  start_load (self, &m);
  tagsight_mapping_clear (&m);
}

const char *
tagsight_data_page_get_data_folder (TagsightDataPage *self)
{
  return self->data_folder;
}

/* --- loading ----------------------------------------------------------- */

/* The first problem with its first example: the likely reason nothing is usable. */
static char *
describe_unusable (const ts_summary *s)
{
  g_autofree char *cap = NULL;

  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    if (s->problems[k].count > 0 && s->problems[k].n_examples > 0)
      return g_strdup_printf (_("No training item is usable. %s: %d, e.g. line %d: %s"),
                              cap = capitalized (ts_problem_kind_name (k)), s->problems[k].count,
                              s->problems[k].example_lines[0],
                              s->problems[k].example_text[0] != NULL
                              ? s->problems[k].example_text[0] : "");
  return g_strdup (_("No training item is usable: the CSV has no rows for training."));
}

static void
on_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TagsightDataPage) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightDataset) ds = tagsight_dataset_load_finish (result, &error);
  g_autofree char *unusable = NULL;
  const char *message = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  gtk_widget_set_visible (self->busy_box, FALSE);
  g_clear_object (&self->cancellable);
  if (ds == NULL)
    message = error->message;
  else if (tagsight_dataset_get_error (ds) != NULL)
    message = tagsight_dataset_get_error (ds);
  else if (!tagsight_dataset_get_summary (ds)->usable)
    message = unusable = describe_unusable (tagsight_dataset_get_summary (ds));

  if (ds != NULL)
    {
      /* the copy found in a granted folder is the one that can be read
       * from now on, its images beside it */
      if (tagsight_dataset_get_mapping (ds)->data_folder != NULL)
        {
          g_free (self->csv_path);
          self->csv_path = g_strdup (tagsight_dataset_get_path (ds));
        }
      g_set_object (&self->dataset, ds);
      show_mapping (self);
    }
  if (ds == NULL || tagsight_dataset_get_datablock (ds) == NULL)
    g_clear_object (&self->dataset);
  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
  show_summary (self);
  fill_grid (self);
  update_folder_box (self);
  g_signal_emit (self, signals[SIGNAL_DATASET_CHANGED], 0, self->dataset);
  if (message != NULL)
    g_signal_emit (self, signals[SIGNAL_FAILED], 0, message);
}

static void
start_load (TagsightDataPage *self, const TagsightMapping *mapping)
{
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  gtk_widget_set_visible (self->busy_box, TRUE);
  tagsight_dataset_load_async (self->csv_path, mapping, self->cancellable, on_loaded,
                               g_object_ref (self));
}

void
tagsight_data_page_open (TagsightDataPage *self, const char *csv_path)
{
  tagsight_data_page_open_with_images (self, csv_path, NULL);
}

void
tagsight_data_page_open_with_images (TagsightDataPage *self, const char *csv_path,
                                     const char *image_dir)
{
  /* the mapping is copied by the load: borrowing @image_dir is enough */
  TagsightMapping m = { .image_dir = (char *) image_dir };

  g_return_if_fail (TAGSIGHT_IS_DATA_PAGE (self));
  g_free (self->csv_path);
  self->csv_path = g_strdup (csv_path);
  g_clear_pointer (&self->data_folder, g_free);
  g_clear_handle_id (&self->reload_id, g_source_remove);
  self->populating = TRUE;
  gtk_editable_set_text (GTK_EDITABLE (self->image_dir_row), "");
  self->populating = FALSE;
  start_load (self, &m);
}

TagsightDataset *
tagsight_data_page_get_dataset (TagsightDataPage *self)
{
  return self->dataset;
}

gboolean
tagsight_data_page_get_busy (TagsightDataPage *self)
{
  return self->cancellable != NULL;
}

/* --- boilerplate ------------------------------------------------------- */

static void
tagsight_data_page_dispose (GObject *object)
{
  TagsightDataPage *self = TAGSIGHT_DATA_PAGE (object);
  GtkWidget *child;

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_handle_id (&self->reload_id, g_source_remove);
  if (self->chooser != NULL)
    {
      /* destroying answers nothing: drop the reference the answer would */
      g_signal_handlers_disconnect_by_func (self->chooser, on_folder_response, self);
      gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
      g_clear_object (&self->chooser);
      g_object_unref (self);
    }
  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_DATA_PAGE);
  /* the template's root is not a bound child: unparent it by hand */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->filtered);
  g_clear_object (&self->store);
  g_clear_object (&self->dataset);
  g_clear_object (&self->thumbnailer);
  G_OBJECT_CLASS (tagsight_data_page_parent_class)->dispose (object);
}

static void
tagsight_data_page_finalize (GObject *object)
{
  TagsightDataPage *self = TAGSIGHT_DATA_PAGE (object);

  g_free (self->csv_path);
  g_free (self->data_folder);
  g_free (self->asked_for);
  g_strfreev (self->columns);
  G_OBJECT_CLASS (tagsight_data_page_parent_class)->finalize (object);
}

static void
tagsight_data_page_class_init (TagsightDataPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tagsight_data_page_dispose;
  object_class->finalize = tagsight_data_page_finalize;

  signals[SIGNAL_DATASET_CHANGED] =
    g_signal_new ("dataset-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, TAGSIGHT_TYPE_DATASET);
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);

  g_type_ensure (TAGSIGHT_TYPE_CHART);
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-data-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, fname_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, labels_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, delim_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, image_dir_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, split_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, folder_box);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, folder_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, busy_box);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, summary_box);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, label_filter);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, split_filter);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, problem_filter);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, count_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, grid_stack);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, empty_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightDataPage, grid_view);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_install_action (widget_class, "data.choose-folder", NULL,
                                   choose_folder_action);
}

static void
tagsight_data_page_init (TagsightDataPage *self)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  GtkNoSelection *selection;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->thumbnailer = tagsight_thumbnailer_new (THUMB_SIDE, THUMB_CACHE);
  self->store = g_list_store_new (TAGSIGHT_TYPE_ITEM);
  self->filter = gtk_custom_filter_new (filter_item, self, NULL);
  self->filtered = gtk_filter_list_model_new (g_object_ref (G_LIST_MODEL (self->store)),
                                              GTK_FILTER (g_object_ref (self->filter)));
  /* filter in idle-time chunks: a 10,000-item data set never blocks a frame */
  gtk_filter_list_model_set_incremental (self->filtered, TRUE);
  selection = gtk_no_selection_new (g_object_ref (G_LIST_MODEL (self->filtered)));
  g_signal_connect (factory, "setup", G_CALLBACK (setup_cell), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_cell), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (unbind_cell), NULL);
  gtk_grid_view_set_model (self->grid_view, GTK_SELECTION_MODEL (selection));
  gtk_grid_view_set_factory (self->grid_view, factory);
  g_object_unref (selection);
  g_object_unref (factory);
  g_object_unref (self->filter);  /* the filter model holds it */

  /* the incremental filter delivers its matches over several main loop turns */
  g_signal_connect_swapped (self->filtered, "items-changed", G_CALLBACK (update_count), self);
  g_signal_connect_swapped (self->label_filter, "notify::selected",
                            G_CALLBACK (on_filter_changed), self);
  g_signal_connect_swapped (self->split_filter, "notify::selected",
                            G_CALLBACK (on_filter_changed), self);
  g_signal_connect_swapped (self->problem_filter, "notify::selected",
                            G_CALLBACK (on_filter_changed), self);
  g_signal_connect_swapped (self->fname_row, "notify::selected",
                            G_CALLBACK (on_mapping_changed), self);
  g_signal_connect_swapped (self->labels_row, "notify::selected",
                            G_CALLBACK (on_mapping_changed), self);
  g_signal_connect_swapped (self->delim_row, "notify::selected",
                            G_CALLBACK (on_mapping_changed), self);
  g_signal_connect_swapped (self->split_row, "notify::selected",
                            G_CALLBACK (on_mapping_changed), self);
  g_signal_connect_swapped (self->image_dir_row, "apply", G_CALLBACK (on_mapping_changed), self);
  fill_grid (self);
}
