/* tagsight-item.c: a list-model item for one datablock item. */
#include "tagsight-item.h"

struct _TagsightItem
{
  GObject parent_instance;

  TagsightDataset *dataset;   /* keeps the datablock the fields point into alive */
  int index;
  GStrv label_names;
  GdkPaintable *thumbnail;
  gboolean pending;
  char *error;
};

enum { PROP_0, PROP_THUMBNAIL, N_PROPS };
static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (TagsightItem, tagsight_item, G_TYPE_OBJECT)

static const ts_item *
item (TagsightItem *self)
{
  return &tagsight_dataset_get_datablock (self->dataset)->items[self->index];
}

static void
tagsight_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TagsightItem *self = TAGSIGHT_ITEM (object);

  switch (prop_id)
    {
    case PROP_THUMBNAIL:
      g_value_set_object (value, self->thumbnail);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tagsight_item_finalize (GObject *object)
{
  TagsightItem *self = TAGSIGHT_ITEM (object);

  g_clear_object (&self->thumbnail);
  g_clear_object (&self->dataset);
  g_strfreev (self->label_names);
  g_free (self->error);
  G_OBJECT_CLASS (tagsight_item_parent_class)->finalize (object);
}

static void
tagsight_item_class_init (TagsightItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = tagsight_item_get_property;
  object_class->finalize = tagsight_item_finalize;
  properties[PROP_THUMBNAIL] =
    g_param_spec_object ("thumbnail", NULL, NULL, GDK_TYPE_PAINTABLE,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
tagsight_item_init (TagsightItem *self)
{
}

TagsightItem *
tagsight_item_new (TagsightDataset *dataset, int index)
{
  TagsightItem *self = g_object_new (TAGSIGHT_TYPE_ITEM, NULL);
  const ts_datablock *db = tagsight_dataset_get_datablock (dataset);
  const ts_item *it;

  self->dataset = g_object_ref (dataset);
  self->index = index;
  it = item (self);
  self->label_names = g_new0 (char *, it->n_labels + 1);
  for (int i = 0; i < it->n_labels; i++)
    self->label_names[i] = g_strdup (db->vocab[it->labels[i]]);
  return self;
}

int
tagsight_item_get_index (TagsightItem *self)
{
  return self->index;
}

const char *
tagsight_item_get_fname (TagsightItem *self)
{
  return item (self)->fname;
}

const char *
tagsight_item_get_path (TagsightItem *self)
{
  return item (self)->path;
}

gboolean
tagsight_item_get_is_valid (TagsightItem *self)
{
  return item (self)->is_valid;
}

int
tagsight_item_get_csv_line (TagsightItem *self)
{
  return item (self)->csv_line;
}

gboolean
tagsight_item_has_label (TagsightItem *self, int vocab_index)
{
  const ts_item *it = item (self);

  for (int i = 0; i < it->n_labels; i++)
    if (it->labels[i] == vocab_index)
      return TRUE;
  return FALSE;
}

const char *const *
tagsight_item_get_label_names (TagsightItem *self)
{
  return (const char *const *) self->label_names;
}

GdkPaintable *
tagsight_item_get_thumbnail (TagsightItem *self)
{
  return self->thumbnail;
}

void
tagsight_item_set_thumbnail (TagsightItem *self, GdkPaintable *thumbnail)
{
  if (g_set_object (&self->thumbnail, thumbnail))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THUMBNAIL]);
}

gboolean
tagsight_item_get_thumbnail_pending (TagsightItem *self)
{
  return self->pending;
}

void
tagsight_item_set_thumbnail_pending (TagsightItem *self, gboolean pending)
{
  self->pending = pending;
}

void
tagsight_item_set_thumbnail_failed (TagsightItem *self, const char *message)
{
  g_free (self->error);
  self->error = g_strdup (message);
}

const char *
tagsight_item_get_thumbnail_error (TagsightItem *self)
{
  return self->error;
}
