/* cmd-bench.c: `tagsight-cli bench`: training-step and inference throughput
 * of an architecture with fastai's head, on random data (no decoding), and
 * peak memory.  bench/torch_step.py does the same step in PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "cli-train-common.h"
#include "ts-backend.h"
#include "ts-backend-select.h"
#include "ts-learner-private.h"
#include "ts-optimizer.h"
#include "ts-rng.h"

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, (size_t) n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU seconds of the whole process (all threads): on a loaded machine this
 * stays comparable between runs when wall time does not. */
static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* Peak resident set size in MiB (VmHWM), or NaN. */
static double
peak_rss_mib (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  double v = NAN;

  if (!f)
    return v;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, "VmHWM:", 6) == 0)
      v = atof (line + 6) / 1024.0;
  fclose (f);
  return v;
}

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli bench [--arch A] [--bs 64] [--size 128] [--threads N]\n"
             "                          [--classes 20] [--steps 6] [--warmup 2] [--device D]\n\n"
             "Times fastai-head training steps (forward, BCEWithLogits, backward, Adam) and\n"
             "inference on random data; prints medians and peak memory (VmHWM; on a GPU\n"
             "also the device memory in use at the end).  --device: cpu, cuda, cuda:N or auto\n"
             "(default: CUDA when a GPU is there).\n"));
  fprintf (out, "%s",
           _("  --profile    after the timed steps, time each kind of layer (waiting for\n"
             "               the device after every layer) and print where a step goes\n"));
  fprintf (out, "%s",
           _("  --precision P  fp32 (default) or bf16: the network's activations in\n"
             "               bfloat16 (CUDA only)\n"));
}

/* Seconds since @t0 after the backend finished its queued work. */
static double
synced_since (ts_backend *be, double t0)
{
  be->i->synchronize (be);
  return ts_now_seconds () - t0;
}

/* `--profile`: @steps more training steps with every layer timed, then the
 * table: per kind of layer its forward and backward milliseconds per step
 * and share of the step, plus the loss and the optimizer. */
static ts_status
print_profile (ts_backend *be, ts_model *m, ts_optimizer *opt, const ts_tensor *x,
               const ts_tensor *y, ts_tensor *dl, int steps)
{
  ts_profile_row rows[32];
  double t_loss = 0.0, t_opt = 0.0, total = 0.0;
  ts_tensor *logits;
  ts_status st = TS_OK;
  int n;

  ts_model_set_profile (m, 1);
  for (int i = 0; i < steps && st == TS_OK; i++)
    {
      double t0;
      if ((st = ts_model_forward (m, x, 1, &logits)) != TS_OK)
        break;
      t0 = ts_now_seconds ();
      be->i->bce_with_logits (be, logits, y, dl);
      t_loss += synced_since (be, t0);
      if ((st = ts_model_backward (m, dl)) != TS_OK)
        break;
      t0 = ts_now_seconds ();
      ts_optimizer_step (opt);
      t_opt += synced_since (be, t0);
    }
  n = ts_model_profile_rows (m, rows, 32);
  ts_model_set_profile (m, 0);
  if (st != TS_OK)
    return st;
  for (int i = 0; i < n; i++)
    total += rows[i].forward_s + rows[i].backward_s;
  total += t_loss + t_opt;
  printf ("%s", _("\nwhere a training step goes (every layer waited for):\n"));
  /* TRANSLATORS: column headers of the profile table; keep them short */
  printf ("  %-14s %10s %10s %7s %6s\n", _("layers"), _("fwd ms"), _("bwd ms"), _("share"),
          _("calls"));
  for (int i = 0; i < n; i++)
    printf ("  %-14s %10.2f %10.2f %6.1f%% %6lld\n", rows[i].label,
            1e3 * rows[i].forward_s / steps, 1e3 * rows[i].backward_s / steps,
            100.0 * (rows[i].forward_s + rows[i].backward_s) / total,
            (long long) ((rows[i].forward_calls + rows[i].backward_calls) / steps));
  printf ("  %-14s %10.2f %10s %6.1f%%\n", _("loss"), 1e3 * t_loss / steps, "",
          100.0 * t_loss / total);
  printf ("  %-14s %10s %10.2f %6.1f%%\n", _("optimizer"), "", 1e3 * t_opt / steps,
          100.0 * t_opt / total);
  printf (_("  total %.2f ms a step (slower than unprofiled: every layer waits)\n"),
          1e3 * total / steps);
  return TS_OK;
}

int
cmd_bench (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "arch", required_argument, NULL, 'a' },
    { "bs", required_argument, NULL, 'b' },
    { "size", required_argument, NULL, 's' },
    { "threads", required_argument, NULL, 't' },
    { "classes", required_argument, NULL, 'c' },
    { "steps", required_argument, NULL, 'n' },
    { "warmup", required_argument, NULL, 'w' },
    { "device", required_argument, NULL, 'd' },
    { "precision", required_argument, NULL, 'P' },
    { "profile", no_argument, NULL, 'p' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *arch = "resnet18", *device = NULL;
  char devname[160];
  int bs = 64, size = 128, threads = 0, classes = 20, steps = 6, warmup = 2, profile = 0, c;
  ts_precision precision = TS_PRECISION_F32;
  ts_backend *be;
  ts_model *m = NULL;
  ts_optimizer *opt = NULL;
  ts_model_config mc;
  ts_tensor *x = NULL, *y = NULL, *dl = NULL, *logits;
  float *hx, *hy;
  double *t_train, *t_inf, *c_train, *c_inf, lrs[TS_MAX_GROUPS];
  ts_rng r;
  ts_status st;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    {
      switch (c)
        {
        case 'a': arch = optarg; break;
        case 'b': bs = atoi (optarg); break;
        case 's': size = atoi (optarg); break;
        case 't': threads = atoi (optarg); break;
        case 'c': classes = atoi (optarg); break;
        case 'n': steps = atoi (optarg); break;
        case 'w': warmup = atoi (optarg); break;
        case 'd': device = optarg; break;
        case 'p': profile = 1; break;
        case 'P':
          if (cli_parse_precision ("bench", optarg, &precision) < 0)
            return 2;
          break;
        case 'h': usage (stdout); return 0;
        default: usage (stderr); return 2;
        }
    }
  if (bs < 1 || size < 16 || classes < 1 || steps < 1 || warmup < 0 || threads < 0)
    {
      fprintf (stderr, "%s",
               _("tagsight-cli bench: bad --bs, --size, --classes, --steps or --warmup\n"));
      return 2;
    }
  if (!(be = ts_backend_new_by_name (device, threads, NULL, 0)))
    return cli_fail ("bench", ts_last_error ());
  mc.arch = arch;
  mc.n_classes = classes;
  mc.head = TS_HEAD_FASTAI;
  mc.seed = 1;
  if (!be || (st = ts_model_new (be, &mc, &m)) != TS_OK
      || (st = ts_model_set_precision (m, precision)) != TS_OK
      || (st = ts_model_prepare (m, bs, size, size)) != TS_OK
      || (st = ts_optimizer_new_for_model (m, NULL, &opt)) != TS_OK)
    {
      cli_fail ("bench", ts_last_error ());
      ts_model_free (m);
      if (be)
        ts_backend_free (be);
      return 1;
    }
  ts_model_unfreeze (m);
  for (int g = 0; g < TS_MAX_GROUPS; g++)
    lrs[g] = 1e-4;
  ts_optimizer_set_lrs (opt, lrs);
  x = ts_tensor_new_4d (be, bs, 3, size, size);
  y = ts_tensor_new_2d (be, bs, classes);
  dl = ts_tensor_new_2d (be, bs, classes);
  hx = malloc ((size_t) bs * 3 * size * size * sizeof (float));
  hy = malloc ((size_t) bs * classes * sizeof (float));
  t_train = calloc ((size_t) steps, sizeof (double));
  t_inf = calloc ((size_t) steps, sizeof (double));
  c_train = calloc ((size_t) steps, sizeof (double));
  c_inf = calloc ((size_t) steps, sizeof (double));
  if (!x || !y || !dl || !hx || !hy || !t_train || !t_inf || !c_train || !c_inf)
    {
      fprintf (stderr, "%s", _("tagsight-cli bench: out of memory\n"));
      return 1;
    }
  ts_rng_seed (&r, 1, 0);
  for (int64_t i = 0; i < (int64_t) bs * 3 * size * size; i++)
    hx[i] = (float) ts_rng_normal (&r);
  for (int64_t i = 0; i < (int64_t) bs * classes; i++)
    hy[i] = ts_rng_uniform (&r) < 0.1;
  ts_tensor_from_host (x, hx, x->numel);
  ts_tensor_from_host (y, hy, y->numel);

  ts_backend_describe (be, devname, sizeof devname);
  {
    char ncls[64], nthr[64], nsteps[96];

    snprintf (ncls, sizeof ncls, ngettext ("%d class", "%d classes", classes), classes);
    snprintf (nthr, sizeof nthr, ngettext ("%d thread", "%d threads", be->n_threads),
              be->n_threads);
    /* TRANSLATORS: the plural follows the number of timed steps (the second number) */
    snprintf (nsteps, sizeof nsteps, ngettext ("%d warm-up + %d timed step",
                                               "%d warm-up + %d timed steps", steps),
              warmup, steps);
    if (strcmp (be->i->name, "cpu") == 0)
      /* TRANSLATORS: architecture, "20 classes", batch size, image side,
       * "4 threads", "2 warm-up + 6 timed steps", the BLAS kernels */
      printf (_("bench: %s + fastai head (%s), batch %d, %d px, %s, %s, BLAS kernels %s\n"),
              arch, ncls, bs, size, nthr, nsteps, ts_backend_cpu_blas_core ());
    else
      /* TRANSLATORS: architecture, "20 classes", batch size, image side, the
       * device, "2 warm-up + 6 timed steps" */
      printf (_("bench: %s + fastai head (%s), batch %d, %d px, on %s, %s\n"), arch, ncls, bs,
              size, devname, nsteps);
    if (precision == TS_PRECISION_BF16)
      printf ("%s", _("precision: bf16 (the network's activations in bfloat16; parameters, "
                      "optimizer and head in float32)\n"));
  }
  fflush (stdout);
  for (int i = 0; i < warmup + steps; i++)
    {
      double t0 = ts_now_seconds (), c0 = cpu_seconds ();
      float loss;
      if ((st = ts_model_forward (m, x, 1, &logits)) != TS_OK
          || (st = ts_loss_and_backward (m, logits, y, dl, &loss)) != TS_OK)
        break;
      ts_optimizer_step (opt);
      be->i->synchronize (be);
      if (i >= warmup)
        {
          t_train[i - warmup] = ts_now_seconds () - t0;
          c_train[i - warmup] = cpu_seconds () - c0;
        }
    }
  for (int i = 0; st == TS_OK && i < warmup + steps; i++)
    {
      double t0 = ts_now_seconds (), c0 = cpu_seconds ();
      if ((st = ts_model_forward (m, x, 0, &logits)) != TS_OK)
        break;
      be->i->synchronize (be);
      if (i >= warmup)
        {
          t_inf[i - warmup] = ts_now_seconds () - t0;
          c_inf[i - warmup] = cpu_seconds () - c0;
        }
    }
  if (st != TS_OK)
    cli_fail ("bench", ts_last_error ());
  else
    {
      double tt = median (t_train, steps), ti = median (t_inf, steps), mem = peak_rss_mib ();
      double ct = median (c_train, steps), ci = median (c_inf, steps);
      long fallbacks = ts_backend_bf16_fallbacks (be);   /* over the warm-up and timed steps */
      long refused, no_memory, exhausted;   /* likewise: cuDNN's fall-through */
      /* TRANSLATORS: the labels of the two result lines; the shorter is
       * padded so that the numbers line up */
      const char *lt = _("training:"), *li = _("inference:");
      int w = cli_text_width (lt) > cli_text_width (li) ? cli_text_width (lt)
              : cli_text_width (li);

      cli_pad (stdout, lt, w);
      printf (" ");
      printf (_("%.1f images/s (median step %.3f s, %.3f CPU s)\n"), bs / tt, tt, ct);
      cli_pad (stdout, li, w);
      printf (" ");
      printf (_("%.1f images/s (median batch %.3f s, %.3f CPU s)\n"), bs / ti, ti, ci);
      printf (_("peak memory: %.0f MiB (VmHWM)\n"), mem);
      cli_bf16_fallback_note (fallbacks);
      ts_backend_dnn_fallthrough (be, &refused, &no_memory, &exhausted);
      printf ("{\"impl\": \"tagsight\", \"device\": \"%s\", \"precision\": \"%s\", "
              "\"arch\": \"%s\", \"bs\": %d, \"size\": %d, \"threads\": %d, \"train_images_per_s\": %.2f, "
              "\"infer_images_per_s\": %.2f, \"peak_mib\": %.1f, \"train_cpu_s\": %.3f, "
              "\"infer_cpu_s\": %.3f, \"bf16_fallbacks\": %ld, \"dnn_refused\": %ld, "
              "\"dnn_no_memory\": %ld, \"dnn_exhausted\": %ld}\n", be->i->name, ts_precision_name (precision), arch, bs, size, be->n_threads, bs / tt, bs / ti, mem, ct, ci,
              fallbacks, refused, no_memory, exhausted);
      if (profile && (st = print_profile (be, m, opt, x, y, dl, steps)) != TS_OK)
        cli_fail ("bench", ts_last_error ());
    }
  free (hx);
  free (hy);
  free (t_train);
  free (t_inf);
  free (c_train);
  free (c_inf);
  ts_tensor_free (x);
  ts_tensor_free (y);
  ts_tensor_free (dl);
  ts_optimizer_free (opt);
  ts_model_free (m);
  ts_backend_free (be);
  return st == TS_OK ? 0 : 1;
}
