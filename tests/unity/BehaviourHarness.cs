// Drives DoodleStreamBehaviour outside Unity: compiled with tests/unity/UnityEngineStub.cs and the
// Runtime files, it plays Unity's part (OnEnable, an Update every 10 ms on the main thread,
// OnDisable) and reports, one JSON object per line, what the behaviour raised and on which thread.
//
//   (every mode takes a last argument, the transport: "default" (ClientWebSocketTransport, made by the
//   behaviour) or "lossy" (LossyTransport: sends only when pumped and drops its queue on Dispose, as a
//   NativeWebSocket adapter may))
//   BehaviourHarness.exe restart URL      connect; print "connected"; wait for "restarted" on stdin while
//                                         the test restarts the server; expect a reconnect; print a summary
//   BehaviourHarness.exe fault URL MODE S  against a fault-injection server (tests/test_unity_faults.py):
//                                         pump for S seconds, then print what the behaviour went through
//   BehaviourHarness.exe resume URL       draw with the stroke helpers and a target, pause and resume the
//                                         app, check the drawing is resumed; the awaitable calls

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

    private static bool _lossy; // a last argument "lossy": the behaviour's transports are LossyTransports

    private static int Main(string[] args)
    {
        _lossy = args[args.Length - 1] == "lossy";
        switch (args[0])
        {
            case "restart": return Restart(args[1]);
            case "fault": return Fault(args[1], args[2], double.Parse(args[3], CultureInfo.InvariantCulture));
            case "resume": return Resume(args[1]);
            default: Console.Error.WriteLine("usage: BehaviourHarness.exe restart|fault|resume URL ..."); return 2;
        }
    }

    // A behaviour as the game gets it; over LossyTransports when asked.
    private static DoodleStreamBehaviour NewBehaviour()
    {
        var behaviour = new DoodleStreamBehaviour();
        if (_lossy) behaviour.TransportFactory = () => new LossyTransport();
        return behaviour;
    }

    /// <summary>A transport that does not drain on Dispose: frames wait in its own queue until it is pumped
    /// (TryReceive), and Dispose drops what is still there and aborts the socket. A client that disposes
    /// it right after Close loses the last frames; one that pumps the close until Closed loses nothing.</summary>
    private sealed class LossyTransport : IDoodleTransport
    {
        private readonly ClientWebSocketTransport _inner = new ClientWebSocketTransport();
        private readonly Queue<byte[]> _queue = new Queue<byte[]>();
        private bool _closeWanted, _closeForwarded;
        private int _closeCode;
        private string _closeReason;
        public static int Dropped;

        public long BufferedBytes { get { return _inner.BufferedBytes + _queue.Sum(f => (long)f.Length); } }
        public void Connect(Uri url, string token, int maxMessageBytes) { _inner.Connect(url, token, maxMessageBytes); }

        public void Send(byte[] buffer, int offset, int count)
        {
            if (_closeWanted) throw new InvalidOperationException("closing");
            var copy = new byte[count];
            Buffer.BlockCopy(buffer, offset, copy, 0, count);
            _queue.Enqueue(copy);
        }

        public void Close(int code, string reason)
        {
            _closeWanted = true;
            _closeCode = code;
            _closeReason = reason;
        }

        public bool TryReceive(out TransportEvent e)
        {
            try
            {
                while (_queue.Count > 0)
                {
                    var f = _queue.Peek();
                    _inner.Send(f, 0, f.Length);
                    _queue.Dequeue();
                }
            }
            catch (InvalidOperationException)
            {
                // not open yet: they wait
            }
            if (_closeWanted && !_closeForwarded && _queue.Count == 0)
            {
                _closeForwarded = true;
                _inner.Close(_closeCode, _closeReason);
            }
            return _inner.TryReceive(out e);
        }

        public void Dispose()
        {
            Dropped += _queue.Count;
            _queue.Clear();
            _inner.Dispose(); // never asked to close (when the close was not forwarded): aborted at once
        }
    }

    private static int Restart(string url)
    {
        var b = NewBehaviour();
        Set(b, "serverUrl", url);
        Set(b, "liveMs", 0);
        Set(b, "initialBackoffSeconds", 0.1f);
        Set(b, "maxBackoffSeconds", 0.4f);
        Set(b, "connectTimeoutSeconds", 3f);
        Set(b, "stableAfterSeconds", 0.3f);

        var sessions = new List<string>();
        var waits = new List<double>(); // from a failure or disconnect to the next attempt
        double endedAt = -1;
        var guesses = new List<GuessesMessage>();
        int disconnects = 0, failures = 0, onGuessesUnityEvent = 0;
        b.Session.Connected += w => { Note("connected"); sessions.Add(w.Session); };
        b.Session.Disconnected += d => { Note("disconnected"); disconnects++; endedAt = Clock.Elapsed.TotalSeconds; };
        b.Session.ConnectionFailed += e => { Note("failed"); failures++; endedAt = Clock.Elapsed.TotalSeconds; };
        b.Session.ConnectionStateChanged += s =>
        {
            Note("state " + s);
            if (s == ConnectionState.Connecting && endedAt >= 0) waits.Add(Clock.Elapsed.TotalSeconds - endedAt);
        };
        b.Session.GuessesReceived += g => { Note("guesses"); guesses.Add(g); };
        // Throwing handlers (a C# one, a UnityEvent listener) must not keep the message from the others.
        b.Session.GuessesReceived += g => { throw new InvalidOperationException("a game handler that throws"); };
        int afterThrowingHandler = 0, topGuessEvents = 0;
        b.Session.GuessesReceived += g => afterThrowingHandler++;
        var unityEvent = (GuessesEvent)Get(b, "onGuesses");
        unityEvent.AddListener(g => { Note("unity event"); onGuessesUnityEvent++; });
        unityEvent.AddListener(g => { throw new InvalidOperationException("an Inspector listener that throws"); });
        ((TextEvent)Get(b, "onTopGuess")).AddListener(w => topGuessEvents++); // raised after onGuesses

        long? notConnected = b.Session.PenUp(); // before OnEnable: no connection, no exception
        var clamps = new List<int>();
        foreach (int ms in new[] { 10, 99999, -5, 120 })
        {
            b.LiveMs = ms;
            clamps.Add(b.LiveMs);
        }
        b.LiveMs = 0;
        Call(b, "OnEnable");
        Pump(b, () => sessions.Count == 1, 20);
        var seq = b.Session.SendStroke(new float[] { 0, 50, 100 }, new float[] { 0, 80, 0 });
        Pump(b, () => guesses.Count == 1, 20);
        var upSince = Clock.Elapsed.TotalSeconds;
        Pump(b, () => Clock.Elapsed.TotalSeconds - upSince > 0.6, 5); // up long enough to count as good: back-off resets
        // A stroke is in progress when the server goes away; the player keeps drawing through the outage.
        float px = 0;
        b.Session.SendPoint(px, 10);
        Emit("connected", null);

        // The test stops the server, starts it again on the same port and then writes a line.
        // Update keeps running meanwhile, as it would in Unity.
        int failuresBefore = failures;
        var restarted = new ManualResetEventSlim();
        new Thread(() => { Console.In.ReadLine(); restarted.Set(); }) { IsBackground = true }.Start();
        Pump(b, () => restarted.IsSet && sessions.Count == 2, 90, () => { if (px < 200) b.Session.SendPoint(px += 1, 10 + px / 2); });
        // The behaviour replayed the finished stroke and the one in progress before publishing the new
        // connection: the pen-up ends stroke 2, and the next stroke is the third.
        b.Session.SendPoint(px + 5, 20);
        b.Session.PenUp();
        Pump(b, () => guesses.Count == 3, 20);
        var seq2 = b.Session.SendStroke(new float[] { 0, 50, 100 }, new float[] { 0, 80, 0 });
        Pump(b, () => guesses.Count == 4, 20);
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
        Field(o, "after_throwing_handler", afterThrowingHandler.ToString());
        Field(o, "top_guess_events", topGuessEvents.ToString());
        Field(o, "live_ms_clamped", "[" + string.Join(",", clamps) + "]");
        Field(o, "disconnects", disconnects.ToString());
        Field(o, "failures_while_down", (failures - failuresBefore).ToString());
        Field(o, "retry_waits_s", "[" + string.Join(",", waits.Select(g => g.ToString("0.###", CultureInfo.InvariantCulture))) + "]");
        Field(o, "off_main_thread", _offMainThread.ToString());
        Field(o, "final_state", "\"" + b.State + "\"");
        o.Append('}');
        Console.WriteLine(o);
        return 0;
    }

    /// <summary>A behaviour against a fault-injection server: counts connections, waits, and how each ended.</summary>
    private static int Fault(string url, string mode, double seconds)
    {
        var b = NewBehaviour();
        Set(b, "serverUrl", url);
        Set(b, "liveMs", 0);
        Set(b, "initialBackoffSeconds", 0.1f);
        Set(b, "maxBackoffSeconds", 1.6f);
        Set(b, "stableAfterSeconds", 30f);
        Set(b, "connectTimeoutSeconds", 5f);
        Set(b, "replyTimeoutSeconds", 1f);
        Set(b, "keepAliveSeconds", 0.3f);
        Set(b, "logConnection", false);
        var waits = new List<double>();
        var ends = new List<string>();
        double endedAt = -1;
        int connecting = 0, connected = 0;
        long? penUpSeq = null;
        double disabledAt = -1;
        var states = new List<string>();
        b.Session.Disconnected += d =>
        {
            ends.Add("{\"code\":" + (d.CloseStatus.HasValue ? ((int)d.CloseStatus.Value).ToString() : "null")
                + ",\"error\":" + (d.Error == null ? "null" : "\"" + d.Error.GetType().Name + "\"")
                + ",\"reason\":\"" + Escape(d.Reason) + "\"}");
            endedAt = Clock.Elapsed.TotalSeconds;
        };
        b.Session.ConnectionFailed += e => endedAt = Clock.Elapsed.TotalSeconds;
        b.Session.ConnectionStateChanged += st =>
        {
            states.Add(st.ToString());
            if (st != ConnectionState.Connecting) return;
            connecting++;
            if (endedAt >= 0) waits.Add(Clock.Elapsed.TotalSeconds - endedAt);
        };
        b.Session.Connected += w =>
        {
            connected++;
            // The first connection sends a pen-up the server never answers; the second stays idle,
            // so only the keep-alive can find out that the server stopped answering.
            if (connected == 1 && mode == "hang") penUpSeq = b.Session.PenUp();
            if (connected == 1 && mode == "pause_flush")
            {
                // Queued in the frame the app is paused: closed politely, pumped by the next Updates.
                b.Session.SendStroke(new float[] { 0, 50, 100 }, new float[] { 0, 80, 0 });
                Call(b, "OnApplicationPause", true);
                disabledAt = Clock.Elapsed.TotalSeconds;
            }
            if (connected == 1 && mode == "flush")
            {
                // Queued just before the component is disabled (a scene change): it must still go out.
                b.Session.SendStroke(new float[] { 0, 50, 100 }, new float[] { 0, 80, 0 });
                Call(b, "OnDisable");
                disabledAt = Clock.Elapsed.TotalSeconds;
            }
        };
        Call(b, "OnEnable");
        double until = Clock.Elapsed.TotalSeconds + seconds;
        Pump(b, () => Clock.Elapsed.TotalSeconds > until || (mode == "hang" && ends.Count >= 2)
            || (disabledAt >= 0 && Clock.Elapsed.TotalSeconds > disabledAt + 1), seconds + 5);
        Call(b, "OnDisable");
        Call(b, "Update");
        var o = new StringBuilder("{\"event\":\"summary\"");
        Field(o, "connecting", connecting.ToString());
        Field(o, "connected", connected.ToString());
        Field(o, "pen_up_seq", penUpSeq.HasValue ? penUpSeq.Value.ToString() : "null");
        Field(o, "waits_s", "[" + string.Join(",", waits.Select(g => g.ToString("0.###", CultureInfo.InvariantCulture))) + "]");
        Field(o, "ends", "[" + string.Join(",", ends) + "]");
        Field(o, "states", "[" + string.Join(",", states.Select(x => "\"" + x + "\"")) + "]");
        Field(o, "off_main_thread", _offMainThread.ToString());
        Field(o, "lossy_dropped", LossyTransport.Dropped.ToString());
        o.Append('}');
        Console.WriteLine(o);
        return 0;
    }

    /// <summary>Draws with the stroke helpers and a target; pauses and resumes the app; uses the awaitable calls.</summary>
    private static int Resume(string url)
    {
        var b = NewBehaviour();
        Set(b, "serverUrl", url);
        Set(b, "liveMs", 0);
        Set(b, "logConnection", false);
        var welcomes = new List<WelcomeMessage>();
        var guesses = new List<GuessesMessage>();
        var recognized = new List<RecognizedMessage>();
        var hellos = new List<HelloMessage>();
        var errors = new List<string>();
        b.Session.Connected += w => { Note("connected"); welcomes.Add(w); };
        b.Session.GuessesReceived += g => { Note("guesses"); guesses.Add(g); };
        b.Session.Recognized += r => { Note("recognized"); recognized.Add(r); };
        b.Session.ErrorReceived += e => errors.Add(e.Code);
        b.Session.MessageReceived += m => { if (m is HelloMessage) hellos.Add((HelloMessage)m); };
        Call(b, "OnEnable");
        Pump(b, () => welcomes.Count == 1, 20);
        // A threshold this low is reached by any drawing: Recognized follows the first guesses.
        var targetTask = b.Session.SetTargetAsync("cat", 1e-6);
        Pump(b, () => targetTask.IsCompleted, 20);
        DrawStroke(b, 0, guesses, 1);
        DrawStroke(b, 1, guesses, 2);
        Pump(b, () => recognized.Count >= 1, 20);
        int guessesBefore = guesses.Count;

        // The app goes to the background and comes back: a new connection, the same drawing. The
        // server makes a drawing resumable once it has seen the old connection end, which races with
        // the new one: a cycle whose resume came too early is answered unknown_drawing (the replay
        // then starts a new drawing), so try a few cycles until one resumes.
        string keyBefore = null, statePaused = null;
        List<GuessesMessage> replayed = null;
        int cycles = 0, refused = 0;
        bool resumed = false;
        while (!resumed && cycles < 5)
        {
            cycles++;
            keyBefore = guesses.Last(g => !g.Live).Drawing;
            int from = guesses.Count, hellosFrom = hellos.Count;
            Call(b, "OnApplicationPause", true);
            statePaused = b.State.ToString();
            double pausedAt = Clock.Elapsed.TotalSeconds;
            Pump(b, () => Clock.Elapsed.TotalSeconds > pausedAt + 0.3 * cycles, 10);
            Call(b, "OnApplicationPause", false);
            Pump(b, () => welcomes.Count == cycles + 1 && guesses.Count(g => !g.Live) >= guessesBefore + 2 * cycles, 30);
            replayed = guesses.Skip(from).Where(g => !g.Live).Take(2).ToList();
            resumed = hellos.Skip(hellosFrom).Any(h => h.Resumed && h.Drawing == keyBefore);
            if (!resumed) refused++;
        }

        // Awaitable calls: a third stroke, then submit and sprite.
        b.Session.SendPoints(new float[] { 10, 60, 110 }, new float[] { 100, 20, 100 }, new long[] { 5000, 5040, 5080 });
        var penUp = b.Session.PenUpAsync();
        Pump(b, () => penUp.IsCompleted, 20);
        var submit = b.Session.SubmitAsync("cat");
        Pump(b, () => submit.IsCompleted, 20);
        var sprite = b.Session.SpriteAsync(64, "#ff0000", 3f);
        Pump(b, () => sprite.IsCompleted, 20);
        Call(b, "OnDisable");
        Call(b, "Update");
        // The stroke helpers read Screen and Time: main thread only, and they say so off it.
        bool offThreadThrows = false;
        var other = new Thread(() =>
        {
            try { b.AddPoint(new UnityEngine.Vector2(1, 2)); }
            catch (InvalidOperationException) { offThreadThrows = true; }
        });
        other.Start();
        other.Join();
        bool notConnectedThrows = false;
        try
        {
            b.Session.PenUpAsync();
        }
        catch (InvalidOperationException)
        {
            notConnectedThrows = true;
        }

        var first = guesses[0];
        var o = new StringBuilder("{\"event\":\"summary\"");
        Field(o, "features", "[" + string.Join(",", welcomes[0].Features.Select(f => "\"" + f + "\"")) + "]");
        Field(o, "protocol_minor", welcomes[0].ProtocolMinor.ToString());
        Field(o, "target_hello", "\"" + Escape(targetTask.Result.Target) + "\"");
        Field(o, "first_target", first.Target == null ? "null" : "{\"word\":\"" + first.Target.Word + "\",\"rank\":" + first.Target.Rank
            + ",\"score\":" + first.Target.Score.ToString("R", CultureInfo.InvariantCulture) + "}");
        Field(o, "strokes_before", "[" + string.Join(",", guesses.Take(guessesBefore).Select(g => g.Strokes)) + "]");
        Field(o, "key_before", "\"" + keyBefore + "\"");
        Field(o, "state_paused", "\"" + statePaused + "\"");
        Field(o, "sessions_differ", welcomes.Select(w => w.Session).Distinct().Count() == welcomes.Count ? "true" : "false");
        Field(o, "cycles", cycles.ToString());
        Field(o, "too_early", refused.ToString());
        Field(o, "replayed_strokes", "[" + string.Join(",", replayed.Select(g => g.Strokes)) + "]");
        Field(o, "replayed_keys", "[" + string.Join(",", replayed.Select(g => "\"" + g.Drawing + "\"")) + "]");
        Field(o, "resumed", "[" + string.Join(",", hellos.Where(h => h.Resumed).Select(h => "\"" + h.Drawing + "\"")) + "]");
        Field(o, "last_resume_ok", resumed ? "true" : "false");
        Field(o, "recognized", "[" + string.Join(",", recognized.Select(r => "\"" + r.Word + "\"")) + "]");
        Field(o, "pen_up_async", penUp.Status == System.Threading.Tasks.TaskStatus.RanToCompletion ? penUp.Result.Strokes.ToString() : "\"" + Escape(penUp.Exception.ToString()) + "\"");
        Field(o, "submit_async", Outcome(submit));
        Field(o, "sprite_async", sprite.Status == System.Threading.Tasks.TaskStatus.RanToCompletion ? sprite.Result.Png.Length.ToString() : Outcome(sprite));
        Field(o, "not_connected_throws", notConnectedThrows ? "true" : "false");
        Field(o, "off_thread_stroke_throws", offThreadThrows ? "true" : "false");
        Field(o, "errors", "[" + string.Join(",", errors.Select(e => "\"" + e + "\"")) + "]");
        Field(o, "off_main_thread", _offMainThread.ToString());
        o.Append('}');
        Console.WriteLine(o);
        return 0;
    }

    // A stroke through the stroke helpers, three points over three frames (LateUpdate sends each frame's).
    private static void DrawStroke(DoodleStreamBehaviour b, int k, List<GuessesMessage> guesses, int strokesWanted)
    {
        b.BeginStroke(new UnityEngine.Vector2(20 + 100 * k, 200));
        Call(b, "LateUpdate");
        b.AddPoint(new UnityEngine.Vector2(60 + 100 * k, 120));
        Call(b, "LateUpdate");
        b.AddPoint(new UnityEngine.Vector2(100 + 100 * k, 200));
        b.EndStroke();
        Pump(b, () => guesses.Any(g => !g.Live && g.Strokes == strokesWanted), 20);
    }

    private static string Outcome<T>(System.Threading.Tasks.Task<T> t)
    {
        if (t.Status == System.Threading.Tasks.TaskStatus.RanToCompletion) return "\"" + ((ServerMessage)(object)t.Result).Type + "\"";
        var e = t.Exception.InnerException as DoodleServerException;
        return e != null ? "\"error " + e.Error.Code + "\"" : "\"" + Escape(t.Exception.InnerException.ToString()) + "\"";
    }

    private static string Escape(string s)
    {
        return (s ?? "").Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", " ");
    }

    private static object Get(object target, string field)
    {
        return target.GetType().GetField(field, BindingFlags.NonPublic | BindingFlags.Instance).GetValue(target);
    }

    private static void Note(string what)
    {
        if (Thread.CurrentThread.ManagedThreadId != MainThread) Interlocked.Increment(ref _offMainThread);
        Log.Add(what);
    }

    /// <summary>Calls Update every 10 ms, as Unity's player loop does, until <paramref name="done"/> or the timeout.</summary>
    private static void Pump(DoodleStreamBehaviour b, Func<bool> done, double timeoutS, Action eachFrame = null)
    {
        var deadline = Clock.Elapsed.TotalSeconds + timeoutS;
        while (!done())
        {
            if (Clock.Elapsed.TotalSeconds > deadline)
                throw new TimeoutException("timed out; events so far: " + string.Join(", ", Log));
            if (eachFrame != null) eachFrame();
            Call(b, "Update");
            Call(b, "LateUpdate");
            Thread.Sleep(10);
        }
    }

    private static void Call(object target, string method, params object[] args)
    {
        target.GetType().GetMethod(method, BindingFlags.NonPublic | BindingFlags.Instance).Invoke(target, args);
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
