// Drives DoodleStreamBehaviour outside Unity: compiled with tests/unity/UnityEngineStub.cs and the
// Runtime files, it plays Unity's part (OnEnable, an Update every 10 ms on the main thread,
// OnDisable) and reports, one JSON object per line, what the behaviour raised and on which thread.
//
//   BehaviourHarness.exe URL     connect; print "connected"; wait for "restarted" on stdin while the
//                                test restarts the server; expect a reconnect; print a summary

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading;
using Doodlestream;

internal static class BehaviourHarness
{
    private static readonly int MainThread = Thread.CurrentThread.ManagedThreadId;
    private static readonly List<string> Log = new List<string>();
    private static readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();
    private static int _offMainThread;

    private static int Main(string[] args)
    {
        var b = new DoodleStreamBehaviour();
        Set(b, "serverUrl", args[0]);
        Set(b, "liveMs", 0);
        Set(b, "initialBackoffSeconds", 0.1f);
        Set(b, "maxBackoffSeconds", 0.4f);
        Set(b, "connectTimeoutSeconds", 3f);

        var sessions = new List<string>();
        var waits = new List<double>(); // from a failure or disconnect to the next attempt
        double endedAt = -1;
        var guesses = new List<GuessesMessage>();
        int disconnects = 0, failures = 0, onGuessesUnityEvent = 0;
        b.Connected += w => { Note("connected"); sessions.Add(w.Session); };
        b.Disconnected += d => { Note("disconnected"); disconnects++; endedAt = Clock.Elapsed.TotalSeconds; };
        b.ConnectionFailed += e => { Note("failed"); failures++; endedAt = Clock.Elapsed.TotalSeconds; };
        b.ConnectionStateChanged += s =>
        {
            Note("state " + s);
            if (s == ConnectionState.Connecting && endedAt >= 0) waits.Add(Clock.Elapsed.TotalSeconds - endedAt);
        };
        b.GuessesReceived += g => { Note("guesses"); guesses.Add(g); };
        var unityEvent = (GuessesEvent)typeof(DoodleStreamBehaviour).GetField("onGuesses", BindingFlags.NonPublic | BindingFlags.Instance).GetValue(b);
        unityEvent.AddListener(g => { Note("unity event"); onGuessesUnityEvent++; });

        long? notConnected = b.PenUp(); // before OnEnable: no connection, no exception
        Call(b, "OnEnable");
        Pump(b, () => sessions.Count == 1, 20);
        var seq = b.SendStroke(new float[] { 0, 50, 100 }, new float[] { 0, 80, 0 });
        Pump(b, () => guesses.Count == 1, 20);
        Emit("connected", null);

        // The test stops the server, starts it again on the same port and then writes a line.
        // Update keeps running meanwhile, as it would in Unity.
        int failuresBefore = failures;
        var restarted = new ManualResetEventSlim();
        new Thread(() => { Console.In.ReadLine(); restarted.Set(); }) { IsBackground = true }.Start();
        Pump(b, () => restarted.IsSet && sessions.Count == 2, 90);
        var seq2 = b.SendStroke(new float[] { 0, 50, 100 }, new float[] { 0, 80, 0 });
        Pump(b, () => guesses.Count == 2, 20);
        Call(b, "OnDisable");
        Call(b, "Update");

        var o = new StringBuilder("{\"event\":\"summary\"");
        Field(o, "sessions", "[" + string.Join(",", sessions.Select(s => "\"" + s + "\"")) + "]");
        Field(o, "not_connected_seq", notConnected.HasValue ? notConnected.Value.ToString() : "null");
        Field(o, "seq", seq.ToString());
        Field(o, "guesses_strokes", "[" + string.Join(",", guesses.Select(g => g.Strokes)) + "]");
        Field(o, "guesses_reply_seq", "[" + string.Join(",", guesses.Select(g => g.Seq)) + "]");
        Field(o, "seq2", seq2.ToString());
        Field(o, "unity_events", onGuessesUnityEvent.ToString());
        Field(o, "disconnects", disconnects.ToString());
        Field(o, "failures_while_down", (failures - failuresBefore).ToString());
        Field(o, "retry_waits_s", "[" + string.Join(",", waits.Select(g => g.ToString("0.###", CultureInfo.InvariantCulture))) + "]");
        Field(o, "off_main_thread", _offMainThread.ToString());
        Field(o, "final_state", "\"" + b.State + "\"");
        o.Append('}');
        Console.WriteLine(o);
        return 0;
    }

    private static void Note(string what)
    {
        if (Thread.CurrentThread.ManagedThreadId != MainThread) Interlocked.Increment(ref _offMainThread);
        Log.Add(what);
    }

    /// <summary>Calls Update every 10 ms, as Unity's player loop does, until <paramref name="done"/> or the timeout.</summary>
    private static void Pump(DoodleStreamBehaviour b, Func<bool> done, double timeoutS)
    {
        var deadline = Clock.Elapsed.TotalSeconds + timeoutS;
        while (!done())
        {
            if (Clock.Elapsed.TotalSeconds > deadline)
                throw new TimeoutException("timed out; events so far: " + string.Join(", ", Log));
            Call(b, "Update");
            Thread.Sleep(10);
        }
    }

    private static void Call(object target, string method)
    {
        target.GetType().GetMethod(method, BindingFlags.NonPublic | BindingFlags.Instance).Invoke(target, null);
    }

    private static void Set(object target, string field, object value)
    {
        target.GetType().GetField(field, BindingFlags.NonPublic | BindingFlags.Instance).SetValue(target, value);
    }

    private static void Field(StringBuilder o, string name, string json)
    {
        o.Append(",\"").Append(name).Append("\":").Append(json);
    }

    private static void Emit(string ev, string extra)
    {
        Console.WriteLine("{\"event\":\"" + ev + "\"" + (extra ?? "") + "}");
        Console.Out.Flush();
    }
}
