/* cmd-resume.c: `tagsight-cli resume P.tagsight [RUN]`: continues an
 * interrupted run from its last checkpoint. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "cli-project.h"

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli resume PROJECT.tagsight [RUN] [--device D]\n\n"
             "Continues an interrupted training run (default: the latest unfinished one)\n"
             "from its last epoch checkpoint; it ends with the weights an uninterrupted\n"
             "run would have had.  --device (cpu, cuda, cuda:N, auto) replaces the\n"
             "device the run was started with: a run that failed on the GPU goes on on\n"
             "the CPU.\n"));
}

int
cmd_resume (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "device", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  const char *device = NULL;
  long long run = 0;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'h': usage (stdout); return 0;
      case 'd': device = optarg; break;
      default: usage (stderr); return 2;
      }
  if (argc - optind < 1 || argc - optind > 2)
    {
      usage (stderr);
      return 2;
    }
  if (argc - optind == 2)
    {
      char *end;
      run = strtoll (argv[optind + 1], &end, 10);
      if (*end || run < 1)
        {
          fprintf (stderr, _("tagsight-cli resume: '%s' is not a run number\n"),
                   argv[optind + 1]);
          return 2;
        }
    }
  return cli_project_resume (argv[optind], run, device);
}
