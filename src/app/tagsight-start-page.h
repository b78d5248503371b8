/* tagsight-start-page.h: the first page: open a CSV or a project, try the demo,
 * recent data sets and projects. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_START_PAGE (tagsight_start_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightStartPage, tagsight_start_page, TAGSIGHT, START_PAGE, GtkWidget)

/* @text NULL hides the progress; @fraction < 0 pulses. */
void tagsight_start_page_set_progress (TagsightStartPage *self, const char *text,
                                       double fraction);
/* Re-reads the recently opened CSVs and projects. */
void tagsight_start_page_reload_recent (TagsightStartPage *self);

G_END_DECLS
