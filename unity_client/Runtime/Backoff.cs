// Reconnect back-off with decorrelated jitter, and a spread first delay after a server restart.
// No UnityEngine dependency.

using System;

namespace Doodlestream
{
    /// <summary>
    /// Delays between reconnect attempts, with "decorrelated jitter": each delay is drawn uniformly
    /// between <see cref="Initial"/> and three times the previous one, capped at <see cref="Max"/>.
    /// Clients that lost the same server therefore drift apart instead of coming back in lock-step.
    /// After a server restart (close code 1001, going away), when every client of that server was
    /// dropped at the same instant, the first delay (<see cref="NextAfterRestart"/>) is drawn uniformly
    /// from [0, <see cref="RestartSpread"/>]: 10,000 clients then put about 0.5 % of their reconnects
    /// in the busiest 50 ms (tests/test_unity_client.py simulates it), where a delay scaled by
    /// 0.8-1.0 put half of them there. <see cref="Reset"/> after a connection stayed up a while.
    /// </summary>
    public sealed class Backoff
    {
        /// <summary>Longest default <see cref="RestartSpread"/>: 10 s.</summary>
        public static readonly TimeSpan MaxRestartSpread = TimeSpan.FromSeconds(10);

        private readonly Random _random;
        private int _attempt;
        private double _previousMs;
        private double _floorMs; // Initial, or more for the one delay after an Escalate

        /// <summary>Creates a back-off; pass <paramref name="seed"/> for a repeatable sequence.</summary>
        /// <param name="initial">Shortest delay (must be positive).</param>
        /// <param name="max">Longest delay (at least <paramref name="initial"/>).</param>
        /// <param name="seed">Seed of the random delays, or null for a unique one (not the clock:
        /// clients started in the same millisecond would draw the same delays).</param>
        public Backoff(TimeSpan initial, TimeSpan max, int? seed = null)
        {
            if (initial <= TimeSpan.Zero) throw new ArgumentOutOfRangeException("initial", "must be positive");
            if (max < initial) throw new ArgumentOutOfRangeException("max", "must be at least 'initial'");
            Initial = initial;
            Max = max;
            RestartSpread = max < MaxRestartSpread ? max : MaxRestartSpread;
            _random = new Random(seed ?? Guid.NewGuid().GetHashCode());
            _previousMs = _floorMs = initial.TotalMilliseconds;
        }

        /// <summary>The shortest delay, and the first one after a <see cref="Reset"/>'s connection broke.</summary>
        public TimeSpan Initial { get; private set; }
        /// <summary>The longest delay.</summary>
        public TimeSpan Max { get; private set; }
        /// <summary>The window the first delay after a server restart is spread over (default: <see cref="Max"/>, at most 10 s).</summary>
        public TimeSpan RestartSpread { get; set; }
        /// <summary>Delays handed out since the last <see cref="Reset"/>.</summary>
        public int Attempt { get { return _attempt; } }

        /// <summary>The delay before the next attempt: uniform in [<see cref="Initial"/>, 3 x the previous
        /// delay], at most <see cref="Max"/> (the first after a <see cref="Reset"/> is <see cref="Initial"/> to 3 x <see cref="Initial"/>).</summary>
        public TimeSpan Next()
        {
            double lo = _floorMs, cap = Max.TotalMilliseconds;
            double hi = Math.Min(cap, Math.Max(lo, _previousMs * 3));
            double ms = lo + _random.NextDouble() * (hi - lo);
            _previousMs = ms;
            _floorMs = Initial.TotalMilliseconds;
            _attempt++;
            return TimeSpan.FromTicks((long)(ms * TimeSpan.TicksPerMillisecond));
        }

        /// <summary>The first delay after the server went away (close code 1001, a restart or a
        /// deploy): uniform in [0, <see cref="RestartSpread"/>], so the server's clients, all dropped
        /// at once, do not come back at once. Later delays follow <see cref="Next"/>.</summary>
        public TimeSpan NextAfterRestart()
        {
            double ms = _random.NextDouble() * RestartSpread.TotalMilliseconds;
            _previousMs = Math.Max(_floorMs, ms);
            _floorMs = Initial.TotalMilliseconds;
            _attempt++;
            return TimeSpan.FromTicks((long)(ms * TimeSpan.TicksPerMillisecond));
        }

        /// <summary>Makes the next delay at least <see cref="Initial"/> x 2^<paramref name="steps"/> and moves the later ones
        /// up as much (still capped at <see cref="Max"/>): for a server that closed with a reason that retrying
        /// soon will not fix (1008 policy, 1009 too big, 1013 try later).</summary>
        public void Escalate(int steps)
        {
            if (steps < 0) throw new ArgumentOutOfRangeException("steps", "must not be negative");
            double factor = Math.Pow(2, Math.Min(steps, 30)), cap = Max.TotalMilliseconds;
            _floorMs = Math.Min(cap, Initial.TotalMilliseconds * factor);
            _previousMs = Math.Min(cap, Math.Max(_previousMs, _floorMs) * factor);
            _attempt = Math.Min(_attempt + steps, 30);
        }

        /// <summary>Starts again from <see cref="Initial"/> (call after a connection stayed up a while).</summary>
        public void Reset()
        {
            _attempt = 0;
            _previousMs = _floorMs = Initial.TotalMilliseconds;
        }
    }
}
