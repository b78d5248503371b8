/* tagsight-settings.c: GSettings with a fallback (see tagsight-settings.h). */
#include "tagsight-settings.h"

#include "ts-config.h"

GSettings *
tagsight_settings_get (void)
{
  static GSettings *settings;
  static gsize once;

  if (g_once_init_enter (&once))
    {
      GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
      g_autoptr (GSettingsSchema) schema = NULL;

      if (source != NULL)
        schema = g_settings_schema_source_lookup (source, TS_APP_ID, TRUE);
      if (schema != NULL)
        settings = g_settings_new_full (schema, NULL, NULL);
      g_once_init_leave (&once, 1);
    }
  return settings;
}

/* A schema older than the code may lack a key: that is a fallback too. */
static gboolean
has_key (const char *key)
{
  GSettings *s = tagsight_settings_get ();
  g_autoptr (GSettingsSchema) schema = NULL;

  if (s == NULL)
    return FALSE;
  g_object_get (s, "settings-schema", &schema, NULL);
  return schema != NULL && g_settings_schema_has_key (schema, key);
}

int
tagsight_settings_get_int (const char *key, int fallback)
{
  return has_key (key) ? g_settings_get_int (tagsight_settings_get (), key) : fallback;
}

gboolean
tagsight_settings_get_boolean (const char *key, gboolean fallback)
{
  return has_key (key) ? g_settings_get_boolean (tagsight_settings_get (), key) : fallback;
}

char *
tagsight_settings_dup_string (const char *key, const char *fallback)
{
  return has_key (key) ? g_settings_get_string (tagsight_settings_get (), key)
                       : g_strdup (fallback);
}

void
tagsight_settings_set_int (const char *key, int value)
{
  if (has_key (key))
    g_settings_set_int (tagsight_settings_get (), key, value);
}

void
tagsight_settings_set_boolean (const char *key, gboolean value)
{
  if (has_key (key))
    g_settings_set_boolean (tagsight_settings_get (), key, value);
}

void
tagsight_settings_set_string (const char *key, const char *value)
{
  if (has_key (key))
    g_settings_set_string (tagsight_settings_get (), key, value);
}
