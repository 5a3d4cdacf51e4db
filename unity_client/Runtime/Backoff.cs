// Exponential reconnect back-off with jitter. No UnityEngine dependency.

using System;

namespace Doodlestream
{
    /// <summary>
    /// Delays between reconnect attempts: <see cref="Initial"/>, then doubling up to <see cref="Max"/>,
    /// each scaled by a random factor in [1 - <see cref="Jitter"/>, 1] so that many clients that lost
    /// the same server do not come back in lock-step. <see cref="Reset"/> after a successful connection.
    /// </summary>
    public sealed class Backoff
    {
        private readonly Random _random;
        private int _attempt;

        /// <summary>Creates a back-off; pass <paramref name="seed"/> for a repeatable jitter sequence.</summary>
        /// <param name="initial">First delay (must be positive).</param>
        /// <param name="max">Longest delay (at least <paramref name="initial"/>).</param>
        /// <param name="jitter">Fraction of each delay that is random, 0..1.</param>
        /// <param name="seed">Seed of the jitter, or null for a time-based one.</param>
        public Backoff(TimeSpan initial, TimeSpan max, double jitter = 0.2, int? seed = null)
        {
            if (initial <= TimeSpan.Zero) throw new ArgumentOutOfRangeException("initial", "must be positive");
            if (max < initial) throw new ArgumentOutOfRangeException("max", "must be at least 'initial'");
            if (jitter < 0 || jitter > 1) throw new ArgumentOutOfRangeException("jitter", "must be between 0 and 1");
            Initial = initial;
            Max = max;
            Jitter = jitter;
            _random = seed.HasValue ? new Random(seed.Value) : new Random();
        }

        /// <summary>The first delay.</summary>
        public TimeSpan Initial { get; private set; }
        /// <summary>The longest delay.</summary>
        public TimeSpan Max { get; private set; }
        /// <summary>Fraction of each delay that is random (0 = none).</summary>
        public double Jitter { get; private set; }
        /// <summary>Delays handed out since the last <see cref="Reset"/>.</summary>
        public int Attempt { get { return _attempt; } }

        /// <summary>The delay before the next attempt; each call doubles the base delay, up to <see cref="Max"/>.</summary>
        public TimeSpan Next()
        {
            double baseMs = Initial.TotalMilliseconds * Math.Pow(2, Math.Min(_attempt, 30));
            baseMs = Math.Min(baseMs, Max.TotalMilliseconds);
            _attempt++;
            double factor = 1 - Jitter * _random.NextDouble();
            return TimeSpan.FromMilliseconds(baseMs * factor);
        }

        /// <summary>Moves <paramref name="steps"/> doublings ahead (still capped at <see cref="Max"/>): for a
        /// server that closed with a reason that retrying soon will not fix (1008 policy, 1009 too big, 1013 try later).</summary>
        public void Escalate(int steps)
        {
            if (steps < 0) throw new ArgumentOutOfRangeException("steps", "must not be negative");
            _attempt = Math.Min(_attempt + steps, 30);
        }

        /// <summary>Starts again from <see cref="Initial"/> (call after a connection stayed up a while).</summary>
        public void Reset()
        {
            _attempt = 0;
        }
    }
}
