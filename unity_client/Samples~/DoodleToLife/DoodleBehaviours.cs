// Sample "Doodle To Life": what a recognised word does once it spawns. Plain C# (no UnityEngine), so
// its table and forces are unit-tested under Mono (tests/test_unity_client.py).

using System;
using System.Collections.Generic;

namespace Doodlestream.Samples
{
    /// <summary>How a spawned doodle moves.</summary>
    public enum DoodleMotion
    {
        /// <summary>An ordinary object: falls, tumbles, lands.</summary>
        Falls,
        /// <summary>Lighter than air: drifts slowly upwards (a cloud, a hot air balloon).</summary>
        Floats,
        /// <summary>Holds its height and cruises sideways with a flapping bob (a bird, a plane).</summary>
        Flies,
        /// <summary>Round: a circle collider and a push that keeps it rolling (a wheel, a ball).</summary>
        Rolls,
        /// <summary>Ten times the mass, twice the gravity: knocks the rest over (an anvil, a piano).</summary>
        Heavy,
    }

    /// <summary>The physics settings of a spawned doodle (what a Rigidbody2D and its colliders get).</summary>
    public struct DoodleBody
    {
        /// <summary>How it moves.</summary>
        public DoodleMotion Motion;
        /// <summary>Rigidbody2D.gravityScale.</summary>
        public float GravityScale;
        /// <summary>Rigidbody2D.mass, in kg (1 for an ordinary object).</summary>
        public float Mass;
        /// <summary>Rigidbody2D linear drag (damping).</summary>
        public float LinearDrag;
        /// <summary>Rigidbody2D angular drag (damping).</summary>
        public float AngularDrag;
        /// <summary>Upward force as a multiple of its weight (1 cancels gravity; more rises).</summary>
        public float Lift;
        /// <summary>Sideways cruising speed in world units per second (fliers), steered towards.</summary>
        public float Cruise;
        /// <summary>Torque that keeps it rolling, in N·m per kg (negative: clockwise, rolling right).</summary>
        public float Spin;
        /// <summary>True when it gets a circle collider (rolls), else a polygon from its outline.</summary>
        public bool Round;
    }

    /// <summary>The sample's small table of word -> behaviour, and the forces each behaviour applies.</summary>
    public static class DoodleBehaviours
    {
        private static readonly Dictionary<string, DoodleMotion> Table = Build();

        /// <summary>Every word the table knows (each one of the model's 345 words), with its motion.</summary>
        public static IEnumerable<KeyValuePair<string, DoodleMotion>> Words { get { return Table; } }

        private static Dictionary<string, DoodleMotion> Build()
        {
            var t = new Dictionary<string, DoodleMotion>(StringComparer.OrdinalIgnoreCase);
            Add(t, DoodleMotion.Floats, "cloud", "feather", "hot air balloon", "parachute", "snowflake", "leaf", "umbrella");
            Add(t, DoodleMotion.Flies, "bird", "airplane", "butterfly", "bee", "helicopter", "dragon", "owl", "parrot", "bat",
                "mosquito", "duck", "flying saucer", "angel", "swan");
            Add(t, DoodleMotion.Rolls, "basketball", "soccer ball", "wheel", "circle", "donut", "baseball", "pizza", "cookie",
                "hockey puck", "apple");
            Add(t, DoodleMotion.Heavy, "anvil", "piano", "elephant", "dumbbell", "cannon", "hammer", "bathtub", "stove", "oven",
                "couch", "bed", "rhinoceros", "cruise ship", "train", "firetruck", "school bus", "truck");
            return t;
        }

        private static void Add(Dictionary<string, DoodleMotion> t, DoodleMotion motion, params string[] words)
        {
            foreach (var w in words) t.Add(w, motion);
        }

        /// <summary>The motion of <paramref name="word"/> (case and surrounding spaces ignored); <see cref="DoodleMotion.Falls"/> when the table does not list it.</summary>
        public static DoodleMotion MotionOf(string word)
        {
            DoodleMotion m;
            return word != null && Table.TryGetValue(word.Trim(), out m) ? m : DoodleMotion.Falls;
        }

        /// <summary>The physics settings for <paramref name="word"/>.</summary>
        public static DoodleBody BodyFor(string word)
        {
            var b = new DoodleBody { Motion = MotionOf(word), GravityScale = 1f, Mass = 1f, LinearDrag = 0f, AngularDrag = 0.05f };
            switch (b.Motion)
            {
                case DoodleMotion.Floats:
                    b.Lift = 1.15f; // rises at 0.15 g, slowed by the drag
                    b.LinearDrag = 2f;
                    b.AngularDrag = 1f;
                    b.Mass = 0.3f;
                    break;
                case DoodleMotion.Flies:
                    b.Lift = 1f; // hovers
                    b.Cruise = 2f;
                    b.LinearDrag = 1f;
                    b.AngularDrag = 5f; // stays upright
                    break;
                case DoodleMotion.Rolls:
                    b.Round = true;
                    b.Spin = -2f;
                    b.AngularDrag = 0f;
                    break;
                case DoodleMotion.Heavy:
                    b.Mass = 10f;
                    b.GravityScale = 2f;
                    break;
            }
            return b;
        }

        /// <summary>The force to apply this physics step (Rigidbody2D.AddForce, in newtons): lift against
        /// gravity <paramref name="gravityY"/> (m/s², negative is down), a flier's steering towards its
        /// cruising speed from its velocity <paramref name="velocityX"/>, and its wing-beat bob at
        /// <paramref name="timeS"/>.</summary>
        public static void Force(DoodleBody b, float mass, float gravityY, float velocityX, float timeS, out float x, out float y)
        {
            float weight = mass * Math.Abs(gravityY) * b.GravityScale;
            y = b.Lift * weight;
            x = 0f;
            if (b.Motion != DoodleMotion.Flies) return;
            x = mass * 3f * (b.Cruise - velocityX); // steer towards the cruising speed, 3 /s
            y += weight * 0.3f * (float)Math.Sin(timeS * 2 * Math.PI * 2); // wings: 2 beats a second, averaging zero
        }
    }
}
