/* tagsight-settings.h: the app's GSettings, when the schema is installed.
 * Uninstalled runs and tests have no schema: callers get NULL and use the
 * schema's defaults, so nothing aborts. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The shared io.github.tagsight.Tagsight settings, or NULL without the schema
 * (borrowed; lives as long as the process). */
GSettings *tagsight_settings_get (void);

/* Reads with a fallback when there is no schema. */
int tagsight_settings_get_int (const char *key, int fallback);
gboolean tagsight_settings_get_boolean (const char *key, gboolean fallback);
/* Returns a new string; @fallback copied when there is no schema. */
char *tagsight_settings_dup_string (const char *key, const char *fallback);
void tagsight_settings_set_int (const char *key, int value);
void tagsight_settings_set_boolean (const char *key, gboolean value);
void tagsight_settings_set_string (const char *key, const char *value);

G_END_DECLS
