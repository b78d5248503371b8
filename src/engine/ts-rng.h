/* ts-rng.h: the one seeded random generator every layer uses (xoshiro256**,
 * seeded through splitmix64), so that a seed reproduces a run exactly. */
#pragma once

#include <math.h>
#include <stdint.h>

typedef struct {
  uint64_t s[4];
} ts_rng;

static inline uint64_t
ts_splitmix64 (uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A stream of its own for (seed, stream): e.g. (seed, epoch) or (seed, item). */
static inline void
ts_rng_seed (ts_rng *r, uint64_t seed, uint64_t stream)
{
  uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
  for (int i = 0; i < 4; i++)
    r->s[i] = ts_splitmix64 (&x);
}

static inline uint64_t
ts_rng_next (ts_rng *r)
{
  uint64_t *s = r->s;
  uint64_t t = s[1] << 17;
  uint64_t result = s[1] * 5;
  result = ((result << 7) | (result >> 57)) * 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = (s[3] << 45) | (s[3] >> 19);
  return result;
}

/* uniform in [0, 1) */
static inline double
ts_rng_uniform (ts_rng *r)
{
  return (double) (ts_rng_next (r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double
ts_rng_uniform_range (ts_rng *r, double lo, double hi)
{
  return lo + (hi - lo) * ts_rng_uniform (r);
}

/* uniform integer in [0, n) */
static inline uint64_t
ts_rng_below (ts_rng *r, uint64_t n)
{
  return n ? ts_rng_next (r) % n : 0;
}

static inline double
ts_rng_normal (ts_rng *r)
{
  double u1 = ts_rng_uniform (r), u2 = ts_rng_uniform (r);
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt (-2.0 * log (u1)) * cos (6.283185307179586 * u2);
}

/* Fisher-Yates shuffle of an int array */
static inline void
ts_rng_shuffle (ts_rng *r, int *a, int n)
{
  for (int i = n - 1; i > 0; i--)
    {
      int j = (int) ts_rng_below (r, (uint64_t) i + 1);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
}

/* Stateless hash of (seed, counter) to [0,1): dropout masks that do not
 * depend on thread scheduling. */
static inline float
ts_rng_hash_uniform (uint64_t seed, uint64_t counter)
{
  uint64_t x = seed ^ (counter * 0x9e3779b97f4a7c15ULL);
  return (float) (ts_splitmix64 (&x) >> 40) * (1.0f / 16777216.0f);
}
