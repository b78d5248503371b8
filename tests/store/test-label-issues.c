/* test-label-issues.c: the confident-learning finder on synthetic
 * probabilities, where the planted errors and the expected order are known. */
#include <math.h>
#include <string.h>

#include "ts-label-issues.h"
#include "ts-rng.h"
#include "ts-test.h"

/* A small hand-made case: every number can be checked by hand. */
static void
test_by_hand (void)
{
  /* 4 items, 2 classes.  Class 0 carried by items 0, 1, 2; class 1 by 3. */
  const float probs[] = {
    0.9f, 0.1f,
    0.7f, 0.2f,
    0.1f, 0.3f,    /* carries 0 with p 0.1: spurious 0 */
    0.8f, 0.9f,    /* lacks 0 with p 0.8: missing 0 */
  };
  const float given[] = {
    1, 0,
    1, 0,
    1, 0,
    0, 1,
  };
  ts_label_report r;
  int *top;

  g_assert_cmpint (ts_label_issues_find (probs, given, 4, 2, 0.5, &r), ==, TS_OK);
  /* t_pos[0] = (0.9 + 0.7 + 0.1) / 3; t_neg[0] = 0.8 */
  g_assert_cmpfloat_with_epsilon (r.thresh_pos[0], (0.9 + 0.7 + 0.1) / 3, 1e-6);
  g_assert_cmpfloat_with_epsilon (r.thresh_neg[0], 0.8, 1e-6);
  g_assert_cmpfloat_with_epsilon (r.thresh_pos[1], 0.9, 1e-6);
  g_assert_cmpfloat_with_epsilon (r.thresh_neg[1], (0.1 + 0.2 + 0.3) / 3, 1e-6);
  /* class 0: item 3 missing (0.8 >= 0.567); items 2 spurious (0.1 <= 0.8), and
   * item 1 too (0.7 <= 0.8): the negatives are very confident here */
  g_assert_cmpint (r.n_issues, ==, 3);
  g_assert_cmpint (r.issues[0].item, ==, 2);
  g_assert_cmpint (r.issues[0].kind, ==, TS_LABEL_ISSUE_SPURIOUS);
  g_assert_cmpfloat_with_epsilon (r.issues[0].score, 1.0 - 0.1, 1e-6);
  g_assert_cmpfloat_with_epsilon (r.issues[0].margin, (0.8 - 0.1) / 0.8, 1e-6);
  g_assert_cmpint (r.issues[1].item, ==, 3);
  g_assert_cmpint (r.issues[1].kind, ==, TS_LABEL_ISSUE_MISSING);
  g_assert_cmpfloat_with_epsilon (r.issues[1].score, 0.8, 1e-6);
  g_assert_cmpfloat_with_epsilon (r.issues[1].margin, (0.8 - 1.7 / 3) / (1 - 1.7 / 3), 1e-6);
  g_assert_cmpint (r.issues[2].item, ==, 1);
  g_assert_cmpstr (ts_label_issue_kind_name (r.issues[1].kind), ==, "missing");
  /* confusion at 0.5, class 0: tp 2 (items 0, 1), fn 1 (item 2), fp 1 (item 3) */
  g_assert_cmpint (r.confusion[0].tp, ==, 2);
  g_assert_cmpint (r.confusion[0].fn, ==, 1);
  g_assert_cmpint (r.confusion[0].fp, ==, 1);
  g_assert_cmpint (r.confusion[0].tn, ==, 0);
  g_assert_cmpint (r.joint[0].fn, ==, 2);
  g_assert_cmpint (r.joint[0].fp, ==, 1);
  g_assert_cmpint (r.joint[0].tp, ==, 1);
  /* co-occurrence of given labels: 3 items carry 0, 1 carries 1, none both */
  g_assert_cmpint (r.cooccur[0], ==, 3);
  g_assert_cmpint (r.cooccur[1], ==, 0);
  g_assert_cmpint (r.cooccur[3], ==, 1);
  /* item losses: item 2 (p 0.1 on a given 1) is the worst */
  top = ts_label_report_top_losses (&r);
  g_assert_cmpint (top[0], ==, 2);
  g_assert_cmpfloat_with_epsilon (r.item_loss[0], -(log (0.9) + log (0.9)) / 2, 1e-6);
  free (top);
  ts_label_report_clear (&r);
}

static void
test_bad_input (void)
{
  const float probs[] = { 0.5f, NAN };
  const float given[] = { 1, 0 };
  ts_label_report r;

  g_assert_cmpint (ts_label_issues_find (probs, given, 1, 2, 0.5, &r), ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (ts_last_error (), "item 0, class 1"));
  g_assert_cmpint (ts_label_issues_find (probs, given, 1, 0, 0.5, &r), ==, TS_ERR_INVALID);
}

/* A noisy but informative model on 2000 items and 5 classes with 5% of the
 * labels flipped: the finder must put most flips at the top. */
static void
test_planted (void)
{
  enum { N = 2000, C = 5 };
  float *probs = g_new (float, N * C), *given = g_new (float, N * C);
  gboolean *flipped = g_new0 (gboolean, N * C);
  ts_label_report r;
  ts_rng rng;
  int n_flip = 0, hits = 0, k_true = 0;
  double precision, recall;

  ts_rng_seed (&rng, 7, 0);
  for (int i = 0; i < N * C; i++)
    {
      int truth = ts_rng_uniform (&rng) < 0.3;
      /* logits around +-2.5 with noise: a good but imperfect model */
      double z = (truth ? 2.5 : -2.5) + 1.2 * ts_rng_normal (&rng);
      probs[i] = (float) (1.0 / (1.0 + exp (-z)));
      given[i] = (float) truth;
      if (ts_rng_uniform (&rng) < 0.05)
        {
          given[i] = 1.0f - given[i];
          flipped[i] = TRUE;
          n_flip++;
        }
    }
  g_assert_cmpint (ts_label_issues_find (probs, given, N, C, 0.5, &r), ==, TS_OK);
  for (int j = 0; j < r.n_issues && j < n_flip; j++)
    hits += flipped[r.issues[j].item * C + r.issues[j].cls];
  for (int j = 0; j < r.n_issues; j++)
    k_true += flipped[r.issues[j].item * C + r.issues[j].cls];
  /* with k = the number planted, precision and recall at k are the same number */
  recall = (double) hits / n_flip;
  precision = r.n_issues ? (double) k_true / r.n_issues : 0.0;
  g_test_message ("%d planted, %d flagged (%d of them planted): precision of the flags %.3f, "
                  "planted errors in the top %d %.3f", n_flip, r.n_issues, k_true, precision,
                  n_flip, recall);
  g_assert_cmpfloat (recall, >=, 0.7);
  g_assert_cmpfloat (precision, >=, 0.9);
  /* the ranking is by score, best first */
  for (int j = 1; j < r.n_issues; j++)
    g_assert_cmpfloat (r.issues[j - 1].score, >=, r.issues[j].score);
  ts_label_report_clear (&r);
  g_free (probs);
  g_free (given);
  g_free (flipped);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/label-issues/by-hand", test_by_hand);
  g_test_add_func ("/store/label-issues/bad-input", test_bad_input);
  g_test_add_func ("/store/label-issues/planted", test_planted);
  return g_test_run ();
}
