// Runs every [Test] method of the assemblies compiled with it (unity_client/Tests) and prints one
// JSON line per test: {"test": "Class.Method", "passed": bool, "error": str?}. Exit status 0 always;
// tests/test_unity_client.py judges the lines.

using System;
using System.Linq;
using System.Reflection;
using NUnit.Framework;

internal static class NUnitRunner
{
    private static int Main()
    {
        var tests = typeof(NUnitRunner).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance).Select(m => new { t, m }))
            .Where(x => x.m.GetCustomAttributes(typeof(TestAttribute), false).Length > 0)
            .OrderBy(x => x.t.FullName + "." + x.m.Name);
        foreach (var x in tests)
        {
            string error = null;
            try
            {
                x.m.Invoke(Activator.CreateInstance(x.t), null);
            }
            catch (TargetInvocationException e)
            {
                error = e.InnerException.GetType().Name + ": " + e.InnerException.Message;
            }
            Console.WriteLine("{\"test\":\"" + x.t.Name + "." + x.m.Name + "\",\"passed\":" + (error == null ? "true" : "false")
                + ",\"error\":" + (error == null ? "null" : "\"" + error.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"") + "}");
        }
        return 0;
    }
}
