/* tagsight-application.h: the application: command line, app actions and
 * their shortcuts, the About window. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_APPLICATION (tagsight_application_get_type ())
G_DECLARE_FINAL_TYPE (TagsightApplication, tagsight_application, TAGSIGHT, APPLICATION,
                      AdwApplication)

TagsightApplication *tagsight_application_new (void);

G_END_DECLS
