// A stand-in for the few NUnit 3 members that unity_client/Tests use (Unity Test Framework ships
// NUnit 3.5), so that tests/test_unity_client.py can compile and run those tests under Mono without
// Unity. Semantics follow NUnit: AreEqual compares collections element by element; a failed
// assertion throws AssertionException. Add a member here only as NUnit declares it.

#pragma warning disable 1591

using System;
using System.Collections;

namespace NUnit.Framework
{
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TestAttribute : Attribute { }

    public delegate void TestDelegate();

    public sealed class AssertionException : Exception
    {
        public AssertionException(string message) : base(message) { }
    }

    public static class Assert
    {
        public static void AreEqual(object expected, object actual)
        {
            if (!Same(expected, actual)) throw new AssertionException("expected " + Show(expected) + " but was " + Show(actual));
        }

        public static void AreEqual(double expected, double actual, double delta)
        {
            if (Math.Abs(expected - actual) > delta) throw new AssertionException("expected " + expected + " +/- " + delta + " but was " + actual);
        }

        public static void IsTrue(bool condition, string message = null)
        {
            if (!condition) throw new AssertionException(message ?? "expected true");
        }

        public static void IsFalse(bool condition, string message = null)
        {
            if (condition) throw new AssertionException(message ?? "expected false");
        }

        public static void IsNull(object value)
        {
            if (value != null) throw new AssertionException("expected null but was " + Show(value));
        }

        public static T Throws<T>(TestDelegate code) where T : Exception
        {
            try
            {
                code();
            }
            catch (Exception e)
            {
                if (e.GetType() == typeof(T)) return (T)e;
                throw new AssertionException("expected " + typeof(T).Name + " but got " + e.GetType().Name + ": " + e.Message);
            }
            throw new AssertionException("expected " + typeof(T).Name + " but nothing was thrown");
        }

        private static bool Same(object a, object b)
        {
            if (a is IEnumerable && b is IEnumerable && !(a is string) && !(b is string))
            {
                var x = ((IEnumerable)a).GetEnumerator();
                var y = ((IEnumerable)b).GetEnumerator();
                while (true)
                {
                    bool mx = x.MoveNext(), my = y.MoveNext();
                    if (mx != my) return false;
                    if (!mx) return true;
                    if (!Same(x.Current, y.Current)) return false;
                }
            }
            return Equals(a, b);
        }

        private static string Show(object v)
        {
            if (v == null) return "null";
            var e = v as IEnumerable;
            if (e == null || v is string) return v + " (" + v.GetType().Name + ")";
            var parts = new System.Collections.Generic.List<string>();
            foreach (object o in e) parts.Add(Show(o));
            return "[" + string.Join(", ", parts) + "]";
        }
    }
}
