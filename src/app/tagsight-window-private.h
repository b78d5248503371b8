/* tagsight-window-private.h: what the window's files share: tagsight-window.c
 * (pages, data, training) and tagsight-window-project.c (the project). */
#pragma once

#include "tagsight-inspect-page.h"
#include "tagsight-run-recorder.h"
#include "tagsight-runs-page.h"
#include "tagsight-start-page.h"
#include "tagsight-store.h"
#include "tagsight-window.h"

struct _TagsightWindow
{
  AdwApplicationWindow parent_instance;

  AdwToastOverlay *toast_overlay;
  AdwViewStack *stack;
  AdwViewSwitcherTitle *switcher_title;
  AdwViewStackPage *data_stack_page;
  AdwViewStackPage *batch_stack_page;
  AdwViewStackPage *train_stack_page;
  AdwViewStackPage *results_stack_page;
  AdwViewStackPage *export_stack_page;
  AdwViewStackPage *runs_stack_page;
  AdwViewStackPage *inspect_stack_page;
  TagsightStartPage *start_page;
  TagsightDataPage *data_page;
  TagsightBatchPage *batch_page;
  TagsightTrainPage *train_page;
  TagsightResultsPage *results_page;
  TagsightExportPage *export_page;
  TagsightRunsPage *runs_page;
  TagsightInspectPage *inspect_page;
  GtkActionBar *read_only_bar;   /* says the open project is read-only */
  GtkLabel *read_only_label;

  char *wanted_page;      /* page to show once data arrives */
  gboolean generating;
  guint progress_id;
  char *demo_part;        /* folder the demo is being written into */
  gboolean autostart;     /* --train: start once the data is open */
  gboolean auto_lr_find;  /* --lr-find: the same for the LR finder */
  char **auto_predict;    /* --predict: images to predict once results are in */
  int demo_n;

  /* the open project (NULL: none) and what is recorded in it */
  TagsightProject *project;
  gint64 dataset_id;          /* the open data set's id in the project; 0: none */
  TagsightRunRecorder *recorder;
  gboolean restoring;         /* pages shown by the restore are not "where the user was" */
  char *restore_model;        /* a run's model to show on Results once its data is open */
  gboolean asked_images;      /* the moved-images question was asked for this data set */

  /* closing while a run goes on (tagsight-window.c): the question asked,
   * then, once confirmed, the wait for the run's end to be recorded */
  AdwMessageDialog *quit_dialog;   /* weak */
  gboolean quitting;
  guint quit_idle;
};

/* tagsight-window.c */
void tagsight_window_refresh_switcher (TagsightWindow *self);

/* tagsight-window-project.c: tagsight_window_open_project with the store's
 * @flags: with TAGSIGHT_PROJECT_OPEN_READ_ONLY the window gets the project a
 * read-only file or folder gives (how the tests, run as root, which file
 * modes do not stop, get one). */
void tagsight_window_open_project_full (TagsightWindow *self, const char *path,
                                        TagsightProjectOpenFlags flags);

/* tagsight-window-project.c: hooks the window calls */
void tagsight_window_project_init (TagsightWindow *self);
void tagsight_window_project_class_init (GtkWidgetClass *widget_class);
void tagsight_window_project_dispose (TagsightWindow *self);
/* A data set finished loading: record it in the project. */
void tagsight_window_project_dataset_changed (TagsightWindow *self, TagsightDataset *dataset);
/* Training ended; FALSE when no project records it (the caller shows the
 * results itself). */
gboolean tagsight_window_project_train_finished (TagsightWindow *self, int status,
                                                 const char *message);
