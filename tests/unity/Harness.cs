// Console harness for the Unity client's plain C# files (compiled with Mono's mcs by
// tests/test_unity_client.py, together with every unity_client file that does not need UnityEngine).
// It prints one JSON object per line; the Python test makes the assertions.
//
//   Harness.exe encode OUT                  the fixed sample value, encoded by MsgPackCodec -> OUT
//   Harness.exe roundtrip IN OUT            decode IN with MsgPackCodec, encode it again -> OUT
//   Harness.exe reject IN                   IN holds one hex input per line; reports how each decodes
//   Harness.exe backoff                     delays of a seeded Backoff(0.5 s, 8 s)
//   Harness.exe stampede N DOWN_S           N clients dropped by a server restart: the busiest 50 ms of reconnects
//   Harness.exe session URL DRAWING PACE_MS stream DRAWING (JSON: [[xs, ys, ts], ...]) point by point
//   Harness.exe alloc URL                   bytes a DoodleSession allocates on the pumping thread: per frame idle and
//                                           drawing, per received guesses (GC.GetAllocatedBytesForCurrentThread)
//   Harness.exe behaviours                  the DoodleToLife sample's word -> behaviour table, bodies and forces
//   Harness.exe outline IN W H MAX          the sample's outline (convex hull, MAX corners) of IN (W x H alpha bytes)
//   Harness.exe token URL TOKEN             connect with DoodleClient.Token (a header), then without
//   Harness.exe token_url URL TOKEN         the URL the WebGL transport opens (token in the query)
//   Harness.exe room URL DIR                C# clients play a turn in a room (RoomHarness.cs)
//   Harness.exe pumped URL                  a pumped DoodleClient over ClientWebSocketTransport, driven from
//                                           this one thread as Update would: events, awaitable calls, close,
//                                           then the reply timeout and the keep-alive over a transport gone deaf

using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Doodlestream;
using Doodlestream.MsgPack;

internal static partial class Harness
{
    private static int Main(string[] args)
    {
        try
        {
            switch (args.Length > 0 ? args[0] : "")
            {
                case "encode": File.WriteAllBytes(args[1], MsgPackCodec.Serialize(Sample())); return 0;
                case "roundtrip": File.WriteAllBytes(args[2], MsgPackCodec.Serialize(MsgPackCodec.Deserialize(File.ReadAllBytes(args[1])))); return 0;
                case "reject": Reject(args[1]); return 0;
                case "backoff": BackoffDelays(); return 0;
                case "stampede": Stampede(int.Parse(args[1], CultureInfo.InvariantCulture), double.Parse(args[2], CultureInfo.InvariantCulture)); return 0;
                case "session": return Session(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture));
                case "token": return TokenHeader(args[1], args[2]);
                case "pumped": return Pumped(args[1]);
                case "alloc": return Allocations(args[1]);
                case "behaviours": Behaviours(); return 0;
                case "outline": Outline(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture), int.Parse(args[4], CultureInfo.InvariantCulture)); return 0;
                case "room": return Room(args[1], args[2]);
                case "balanced": return Balanced(args[1], args[2], args[3]);
                case "token_url": Console.WriteLine(DoodleTransportUrls.WithToken(new Uri(args[1]), args[2])); return 0;
                default:
                    Console.Error.WriteLine("usage: Harness.exe encode|roundtrip|reject|backoff|session ...");
                    return 2;
            }
        }
        catch (Exception e)
        {
            Console.Error.WriteLine("harness failed: " + e);
            return 1;
        }
    }

    // ------------------------------------------------------------------ codec

    /// <summary>A value using every format the codec writes (the Python test builds the same value).</summary>
    private static object Sample()
    {
        var ints = new List<object>
        {
            0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295L, 4294967296L, long.MaxValue, ulong.MaxValue,
            -1, -32, -33, -128, -129, -32768, -32769, (long)int.MinValue, (long)int.MinValue - 1, long.MinValue,
            (byte)200, (sbyte)-100, (short)-300, (ushort)60000, 3000000000u,
        };
        var bigMap = new Dictionary<string, object>();
        for (int i = 0; i < 20; i++) bigMap["k" + i] = i;
        return new Dictionary<string, object>
        {
            { "ints", ints },
            { "f32", new[] { 1.5f, -0.25f, 3.4028235e38f } },
            { "f64", new[] { 0.1, -1e300, 123456.789 } },
            { "bools", new object[] { true, false, null } },
            { "strs", new[] { "", "h\u00e9llo \u732b", new string('a', 31), new string('b', 32), new string('c', 300), new string('d', 70000) } },
            { "bins", new object[] { new byte[0], Bytes(255), Bytes(256), Bytes(70000) } },
            { "arr16", Enumerable.Range(0, 16).Cast<object>().ToList() },
            { "map16", bigMap },
            { "nested", new object[] { new object[] { new Dictionary<string, object> { { "deep", new object[] { 1, "x" } } } } } },
        };
    }

    private static byte[] Bytes(int n)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(i * 7);
        return b;
    }

    private static void Reject(string path)
    {
        int i = 0;
        foreach (string line in File.ReadAllLines(path))
        {
            var data = new byte[line.Length / 2];
            for (int k = 0; k < data.Length; k++) data[k] = byte.Parse(line.Substring(2 * k, 2), NumberStyles.HexNumber);
            var o = new Dictionary<string, object> { { "i", i++ } };
            try
            {
                MsgPackCodec.Deserialize(data);
                o["rejected"] = false;
            }
            catch (Exception e)
            {
                o["rejected"] = true;
                o["exception"] = e.GetType().Name;
                o["message"] = e.Message;
            }
            Emit(o);
        }
    }

    private static void BackoffDelays()
    {
        var b = new Backoff(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(8), 7);
        var delays = new List<object>();
        for (int i = 0; i < 12; i++) delays.Add(b.Next().TotalSeconds);
        b.Reset();
        double afterReset = b.Next().TotalSeconds;
        b.Escalate(2);
        double escalated = b.Next().TotalSeconds;
        var restart = new List<object>();
        for (int i = 0; i < 200; i++) restart.Add(new Backoff(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(30)).NextAfterRestart().TotalSeconds);
        Emit(new Dictionary<string, object>
        {
            { "delays", delays }, { "after_reset", afterReset }, { "escalated", escalated }, { "after_restart", restart },
        });
    }

    /// <summary>10,000 clients dropped at once by a server restart (close 1001), the server down for DOWN_S:
    /// each waits its first delay, fails while the server is down and backs off, then connects. Prints the
    /// largest share of reconnects (and of all attempts) in any 50 ms window, for this Backoff and for the
    /// 0.2.0 one (each delay x 0.8-1.0, the first one Initial).</summary>
    private static void Stampede(int clients, double downS)
    {
        var initial = TimeSpan.FromSeconds(0.5);
        var max = TimeSpan.FromSeconds(30);
        var rng = new Random(11);
        var schemes = new Dictionary<string, object>();
        foreach (var scheme in new[] { "decorrelated", "v0.2" })
        {
            var connects = new List<double>();
            var attempts = new List<double>();
            for (int c = 0; c < clients; c++)
            {
                var b = new Backoff(initial, max);
                int attempt = 0;
                double t = scheme == "v0.2" ? OldDelay(initial, max, attempt++, rng) : b.NextAfterRestart().TotalSeconds;
                while (true)
                {
                    attempts.Add(t);
                    if (t >= downS) break;
                    t += scheme == "v0.2" ? OldDelay(initial, max, attempt++, rng) : b.Next().TotalSeconds; // refused at once
                }
                connects.Add(t);
            }
            schemes[scheme] = new Dictionary<string, object>
            {
                { "busiest_connects", Busiest(connects, 0.05) / clients },
                { "busiest_attempts", Busiest(attempts, 0.05) / clients },
                { "attempts", attempts.Count },
                { "last_connect_s", connects.Max() },
            };
        }
        Emit(new Dictionary<string, object> { { "clients", clients }, { "down_s", downS }, { "schemes", schemes } });
    }

    private static double OldDelay(TimeSpan initial, TimeSpan max, int attempt, Random rng)
    {
        double baseS = Math.Min(initial.TotalSeconds * Math.Pow(2, Math.Min(attempt, 30)), max.TotalSeconds);
        return baseS * (1 - 0.2 * rng.NextDouble());
    }

    // The most of `times` in any window [t, t + width): a sliding window over the sorted times.
    private static double Busiest(List<double> times, double width)
    {
        var sorted = times.OrderBy(x => x).ToArray();
        int best = 0, lo = 0;
        for (int hi = 0; hi < sorted.Length; hi++)
        {
            while (sorted[hi] - sorted[lo] >= width) lo++;
            best = Math.Max(best, hi - lo + 1);
        }
        return best;
    }

    // ------------------------------------------------------------------ live session

    private static readonly BlockingCollection<ServerMessage> Inbox = new BlockingCollection<ServerMessage>();
    private static int _liveGuesses;

    /// <summary>Connects with the token in the Authorization header (not in the URL), then without any.</summary>
    // ------------------------------------------------------------------ the DoodleToLife sample's plain C#

    private static void Behaviours()
    {
        var table = new Dictionary<string, object>();
        foreach (var kv in Doodlestream.Samples.DoodleBehaviours.Words) table[kv.Key] = kv.Value.ToString();
        var bodies = new Dictionary<string, object>();
        foreach (var word in new[] { "bird", "Hot Air Balloon ", "wheel", "anvil", "house", "", null })
        {
            var b = Doodlestream.Samples.DoodleBehaviours.BodyFor(word);
            // Average force over one second of physics steps (50 Hz), for a body of its mass at rest, under -9.81 m/s^2.
            double fx = 0, fy = 0;
            for (int step = 0; step < 50; step++)
            {
                float x, y;
                Doodlestream.Samples.DoodleBehaviours.Force(b, b.Mass, -9.81f, 0f, step / 50f, out x, out y);
                fx += x / 50;
                fy += y / 50;
            }
            bodies[word ?? "null"] = new Dictionary<string, object>
            {
                { "motion", b.Motion.ToString() }, { "mass", b.Mass }, { "gravity", b.GravityScale }, { "round", b.Round },
                { "spin", b.Spin }, { "drag", b.LinearDrag }, { "mean_force_x", fx }, { "mean_force_y", fy },
                { "weight", b.Mass * 9.81 * b.GravityScale },
            };
        }
        Emit(new Dictionary<string, object> { { "table", table }, { "bodies", bodies } });
    }

    private static void Outline(string path, int width, int height, int maxPoints)
    {
        var alpha = File.ReadAllBytes(path);
        var hull = Doodlestream.Samples.DoodleOutline.Hull(alpha, width, height, 16, maxPoints);
        var local = Doodlestream.Samples.DoodleOutline.ToLocal(hull, width, height, width / 2f);
        Emit(new Dictionary<string, object>
        {
            { "hull", hull.Select(v => (object)(double)v).ToList() }, { "area", Doodlestream.Samples.DoodleOutline.Area(hull) },
            { "local", local.Select(v => (object)(double)v).ToList() }, { "radius", (double)Doodlestream.Samples.DoodleOutline.Radius(local) },
        });
    }

    // ------------------------------------------------------------------ allocations

    /// <summary>A session over ClientWebSocketTransport against the live server, pumped from this thread
    /// as Update would: the bytes this thread allocates per frame idle, per frame while drawing (two
    /// points a frame, sent as one message), and per received guesses (decoded and raised).</summary>
    private static int Allocations(string url)
    {
        var session = new DoodleSession { ServerUrl = url, KeepAliveInterval = TimeSpan.Zero, ReplyTimeout = TimeSpan.FromSeconds(60) };
        int guesses = 0, faults = 0;
        session.GuessesReceived += g => guesses++;
        session.Faulted += e => faults++;
        Func<double> now = () => PumpClock.Elapsed.TotalSeconds;
        session.Start(now());
        double deadline = now() + 20;
        while (!session.IsConnected)
        {
            if (now() > deadline) throw new TimeoutException("alloc: no connection");
            session.Pump(now());
            Thread.Sleep(2);
        }
        const int Warm = 200, Frames = 400;
        Action idle = () => { session.Pump(now()); session.FlushPoints(); };
        float x = 0;
        Action draw = () =>
        {
            session.AddPoint(x += 1.5f, 100 + (x % 40), now());
            session.AddPoint(x += 1.5f, 100 + (x % 40), now());
            session.Pump(now());
            session.FlushPoints();
        };
        double idleB = SteadyPerFrame(idle, Warm, Frames);
        // Steady state: a game plays rounds; the first round's strokes grow their lists, later ones reuse them
        // (the first round draws as many frames as the measured one can).
        session.BeginStroke(0, 100, now());
        PerFrame(draw, Warm + Windows * Frames, 0);
        session.EndStroke();
        session.Clear();
        x = 0;
        session.BeginStroke(0, 100, now());
        double drawB = SteadyPerFrame(draw, Warm, Frames);
        session.EndStroke();
        // Guesses: the reply to a pen-up, decoded and raised inside Pump; only the pumps are measured.
        long bytes = 0;
        int rounds = 0;
        for (int round = 0; round < 40; round++)
        {
            int before = guesses;
            session.BeginStroke(10 + round, 10, now());
            session.AddPoint(60 + round, 80, now());
            session.EndStroke();
            deadline = now() + 20;
            while (guesses == before)
            {
                if (now() > deadline) throw new TimeoutException("alloc: no guesses");
                long a = GC.GetAllocatedBytesForCurrentThread();
                session.Pump(now());
                bytes += GC.GetAllocatedBytesForCurrentThread() - a;
                Thread.Sleep(1);
            }
            if (round >= 10) rounds++; // the first ones fill the word cache
            else bytes = 0;
        }
        Emit(new Dictionary<string, object>
        {
            { "event", "alloc" }, { "idle_bytes_per_frame", idleB }, { "drawing_bytes_per_frame", drawB },
            { "bytes_per_guesses", (double)bytes / rounds }, { "guesses", guesses }, { "faults", faults }, { "frames", Frames },
        });
        session.Dispose();
        return 0;
    }

    private const int Windows = 3;

    // The least of up to Windows windows of PerFrame (the first at 0 B ends it): garbage made every frame
    // shows in each, while a pool that grew once (a transport's send thread starved of CPU on a loaded
    // machine lags, so the pumping thread rents a new buffer) shows in one only.
    private static double SteadyPerFrame(Action frame, int warm, int frames)
    {
        double least = double.MaxValue;
        for (int w = 0; w < Windows && least > 0; w++) least = Math.Min(least, PerFrame(frame, w == 0 ? warm : 0, frames));
        return least;
    }

    // Bytes this thread allocates per call of frame(), after `warm` calls; a frame every 2 ms.
    private static double PerFrame(Action frame, int warm, int frames)
    {
        for (int i = 0; i < warm; i++) { frame(); Thread.Sleep(2); }
        long total = 0;
        if (frames == 0) return 0;
        for (int i = 0; i < frames; i++)
        {
            long a = GC.GetAllocatedBytesForCurrentThread();
            frame();
            total += GC.GetAllocatedBytesForCurrentThread() - a;
            Thread.Sleep(2);
        }
        return (double)total / frames;
    }

    // ------------------------------------------------------------------ pumped mode

    /// <summary>A transport that, once <see cref="Deaf"/>, drops what arrives: a server gone silent (a dead Wi-Fi).</summary>
    private sealed class DeafTransport : IDoodleTransport
    {
        private readonly ClientWebSocketTransport _inner = new ClientWebSocketTransport();
        public bool Deaf;
        public int Dropped;
        public long BufferedBytes { get { return _inner.BufferedBytes; } }
        public void Connect(Uri url, string token, int maxMessageBytes) { _inner.Connect(url, token, maxMessageBytes); }
        public void Send(byte[] buffer, int offset, int count) { _inner.Send(buffer, offset, count); }
        public void Close(int code, string reason) { _inner.Close(code, reason); }
        public void Dispose() { _inner.Dispose(); }

        public bool TryReceive(out TransportEvent e)
        {
            while (_inner.TryReceive(out e))
            {
                if (!Deaf || e.Kind != TransportEventKind.Message) return true;
                Dropped++;
            }
            return false;
        }
    }

    private static readonly System.Diagnostics.Stopwatch PumpClock = System.Diagnostics.Stopwatch.StartNew();

    // Pumps like Update does (one thread, a frame every 5 ms) until done() or the time is up.
    private static void PumpUntil(DoodleClient client, Func<bool> done, double timeoutS, string what)
    {
        double deadline = PumpClock.Elapsed.TotalSeconds + timeoutS;
        while (!done())
        {
            if (PumpClock.Elapsed.TotalSeconds > deadline) throw new TimeoutException("pumped: timed out waiting for " + what);
            client.Pump(PumpClock.Elapsed.TotalSeconds);
            Thread.Sleep(5);
        }
    }

    private static int Pumped(string url)
    {
        int main = Thread.CurrentThread.ManagedThreadId;
        int offThread = 0;
        Action onMain = () => { if (Thread.CurrentThread.ManagedThreadId != main) offThread++; };
        var names = new List<string>();
        var transport = new DeafTransport();
        var client = new DoodleClient(new Uri(url), transport) { ReplyTimeout = TimeSpan.FromSeconds(60), KeepAliveInterval = TimeSpan.Zero };
        client.Welcomed += m => { onMain(); names.Add("welcome"); };
        client.GuessesReceived += m => { onMain(); names.Add("guesses"); };
        client.HelloReceived += m => { onMain(); names.Add("hello"); };
        client.Cleared += m => { onMain(); names.Add("cleared"); };
        client.ErrorReceived += m => { onMain(); names.Add("error " + m.Code); };
        DisconnectInfo bye = null;
        client.Disconnected += d => { onMain(); bye = d; };
        client.Faulted += e => names.Add("fault " + e.Message);

        var connecting = client.Connect(PumpClock.Elapsed.TotalSeconds);
        bool completedBeforePump = connecting.IsCompleted;
        PumpUntil(client, () => connecting.IsCompleted, 20, "welcome");
        var welcome = connecting.Result;
        long helloSeq = client.Hello(0);
        // An awaitable call: its continuation runs inside Pump, on this thread.
        int continuationThread = -1;
        var stroke = client.StrokeAsync(new float[] { 0, 40, 80, 120 }, new float[] { 0, 60, 0, 60 }, new long[] { 0, 10, 20, 30 });
        var after = stroke.ContinueWith(t => { continuationThread = Thread.CurrentThread.ManagedThreadId; return t.Result; }, TaskContinuationOptions.ExecuteSynchronously);
        PumpUntil(client, () => after.IsCompleted, 20, "stroke guesses");
        var guesses = after.Result;
        client.SendPoints(new float[] { 5, 50, 90 }, new float[] { 5, 5, 90 });
        long penUpSeq = client.PenUp();
        PumpUntil(client, () => names.Count(n => n == "guesses") == 2, 20, "pen_up guesses");
        long badSeq = client.Send(new Dictionary<string, object> { { "type", "no_such_type" } });
        PumpUntil(client, () => names.Any(n => n.StartsWith("error", StringComparison.Ordinal)), 20, "error");
        client.Clear();
        PumpUntil(client, () => names.Contains("cleared"), 20, "cleared");
        Emit(new Dictionary<string, object>
        {
            { "event", "pumped" }, { "session", welcome.Session }, 
            { "completed_before_pump", completedBeforePump }, { "hello_seq", helloSeq }, { "pen_up_seq", penUpSeq },
            { "stroke_strokes", guesses.Strokes }, { "stroke_words", guesses.Guesses.Count },
            { "stroke_reply_seq", guesses.Seq }, { "continuation_on_pump_thread", continuationThread == main },
            { "bad_seq", badSeq }, { "events", names.ToList() }, { "drawing", client.Drawing },
        });

        // Polite close: the close handshake completes inside Pump.
        var closing = client.CloseAsync(TimeSpan.FromSeconds(5));
        PumpUntil(client, () => closing.IsCompleted, 20, "close");
        Emit(new Dictionary<string, object>
        {
            { "event", "closed" }, { "by_client", bye != null && bye.ByClient }, { "state", client.State.ToString() },
            { "close_status", bye != null && bye.CloseStatus.HasValue ? (object)(int)bye.CloseStatus.Value : null },
        });

        // A server gone silent: the reply timeout on the pumped clock ends the connection.
        var deaf = new DeafTransport();
        var dead = new DoodleClient(new Uri(url), deaf) { ReplyTimeout = TimeSpan.FromSeconds(0.5), KeepAliveInterval = TimeSpan.Zero };
        DisconnectInfo deadBye = null;
        dead.Disconnected += d => deadBye = d;
        var c2 = dead.Connect(PumpClock.Elapsed.TotalSeconds);
        PumpUntil(dead, () => c2.IsCompleted, 20, "welcome 2");
        deaf.Deaf = true;
        double sentAt = PumpClock.Elapsed.TotalSeconds;
        dead.Pump(sentAt); // a frame: the reply is due 0.5 s after this clock reading
        var waiting = dead.PenUpAsync();
        PumpUntil(dead, () => deadBye != null, 20, "the reply timeout");
        double timedOutAfter = PumpClock.Elapsed.TotalSeconds - sentAt;
        Emit(new Dictionary<string, object>
        {
            { "event", "reply_timeout" }, { "error", deadBye.Error == null ? null : deadBye.Error.GetType().Name },
            { "by_client", deadBye.ByClient }, { "after_s", timedOutAfter }, { "dropped", deaf.Dropped },
            { "awaiting_failed_with", waiting.IsFaulted ? waiting.Exception.InnerException.GetType().Name : "not failed" },
        });

        // Idle: the keep-alive hello goes out; answered, it raises nothing; unanswered, it ends the connection.
        var quiet = new DeafTransport();
        // A reply timeout of 2 s: an answered keep-alive is never late, even on a loaded machine.
        var idle = new DoodleClient(new Uri(url), quiet) { ReplyTimeout = TimeSpan.FromSeconds(2), KeepAliveInterval = TimeSpan.FromSeconds(0.2) };
        var idleNames = new List<string>();
        DisconnectInfo idleBye = null;
        idle.MessageReceived += m => idleNames.Add(m.Type);
        idle.Disconnected += d => idleBye = d;
        var c3 = idle.Connect(PumpClock.Elapsed.TotalSeconds);
        PumpUntil(idle, () => c3.IsCompleted, 20, "welcome 3");
        double idleFrom = PumpClock.Elapsed.TotalSeconds;
        PumpUntil(idle, () => PumpClock.Elapsed.TotalSeconds - idleFrom > 1.5, 5, "an idle spell");
        bool upAfterIdle = idle.IsConnected;
        quiet.Deaf = true;
        PumpUntil(idle, () => idleBye != null, 20, "the keep-alive's timeout");
        Emit(new Dictionary<string, object>
        {
            { "event", "keep_alive" }, { "up_after_idle", upAfterIdle }, { "raised", idleNames.ToList() },
            { "error", idleBye.Error == null ? null : idleBye.Error.GetType().Name }, { "dropped", quiet.Dropped },
        });
        Emit(new Dictionary<string, object> { { "event", "threads" }, { "off_pump_thread", offThread } });
        return 0;
    }

    private static int TokenHeader(string url, string token)
    {
        foreach (var withToken in new[] { true, false })
        {
            var client = new DoodleClient(url) { Token = withToken ? token : null, ConnectTimeout = TimeSpan.FromSeconds(20) };
            string outcome;
            try
            {
                var welcome = client.ConnectAsync().GetAwaiter().GetResult();
                outcome = "welcome " + welcome.Session;
                client.CloseAsync().GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                outcome = "refused " + e.GetType().Name;
            }
            client.Dispose();
            Emit(new Dictionary<string, object> { { "event", "token" }, { "with_token", withToken }, { "outcome", outcome } });
        }
        return 0;
    }

    private static int Session(string url, string drawingPath, int paceMs)
    {
        var strokes = ParseDrawing(File.ReadAllText(drawingPath));
        var client = new DoodleClient(url);
        var events = new ConcurrentQueue<string>();
        client.Welcomed += m => events.Enqueue("welcome");
        client.GuessesReceived += m => { if (m.Live) { Interlocked.Increment(ref _liveGuesses); Emit(GuessesJson("live", m)); } };
        client.MessageReceived += m => { if (!(m is WelcomeMessage) && !(m is GuessesMessage && ((GuessesMessage)m).Live)) Inbox.Add(m); };
        client.Faulted += e => Emit(new Dictionary<string, object> { { "event", "fault" }, { "message", e.ToString() } });
        var disconnected = new ManualResetEventSlim();
        DisconnectInfo bye = null;
        client.Disconnected += d => { bye = d; disconnected.Set(); };

        var welcome = client.ConnectAsync().GetAwaiter().GetResult();
        Emit(new Dictionary<string, object>
        {
            { "event", "welcome" }, { "protocol", welcome.Protocol }, { "classes", welcome.Classes },
            { "session", welcome.Session }, { "max_points_per_message", welcome.Limit("max_points_per_message", -1) },
            { "welcomed_event", events.Contains("welcome") },
        });

        long seq = client.Hello(50, "unity-harness");
        var hello = Expect<HelloMessage>(seq);
        Emit(new Dictionary<string, object> { { "event", "hello" }, { "live_ms", hello.LiveMs }, { "seq", seq }, { "reply_seq", hello.Seq } });

        foreach (var s in strokes)
        {
            for (int i = 0; i < s.X.Length; i++)
            {
                client.SendPoint(s.X[i], s.Y[i], s.T[i]);
                if (paceMs > 0) Thread.Sleep(paceMs);
            }
            seq = client.PenUp();
            Emit(GuessesJson("pen_up", Expect<GuessesMessage>(seq), seq));
        }

        seq = client.Undo();
        Emit(GuessesJson("undo", Expect<GuessesMessage>(seq), seq));
        var last = strokes[strokes.Count - 1];
        seq = client.SendStroke(last.X, last.Y, last.T);
        Emit(GuessesJson("stroke", Expect<GuessesMessage>(seq), seq));

        // Bad messages: each gets an error reply and the session goes on.
        seq = client.Send(new Dictionary<string, object> { { "type", "points" }, { "x", new[] { 1, 2 } }, { "y", new[] { 1 } } });
        Emit(ErrorJson("bad_points", Expect<ErrorMessage>(seq), seq));
        seq = client.Send(new Dictionary<string, object> { { "type", "no_such_type" } });
        Emit(ErrorJson("bad_type", Expect<ErrorMessage>(seq), seq));
        client.SendRaw(new byte[] { 0xc1, 0x00 });
        Emit(ErrorJson("garbage", Expect<ErrorMessage>(null), null));

        // Sends the server would refuse are refused here first, and the connection stays up.
        var refused = new List<object>();
        Action<string, Action> refuse = (name, send) =>
        {
            try
            {
                send();
            }
            catch (ArgumentException)
            {
                refused.Add(name);
            }
        };
        refuse("image", () => client.SendImage(new byte[(int)welcome.Limit("max_image_bytes", 0) + 1]));
        refuse("frame", () => client.Send(new Dictionary<string, object> { { "type", "x" }, { "pad", new string('p', (int)welcome.Limit("max_frame_bytes", 0)) } }));
        refuse("word", () => client.Submit(new string('w', (int)welcome.Limit("max_word_chars", 0) + 1)));
        refuse("stroke", () => client.SendStroke(new float[(int)welcome.Limit("max_points_per_stroke", 0) + 1], new float[(int)welcome.Limit("max_points_per_stroke", 0) + 1]));
        refuse("sprite_size", () => client.RequestSprite(null, (int)welcome.Limit("max_sprite_px", 0) + 1));
        refuse("live_ms", () => client.Hello(10));
        Emit(new Dictionary<string, object> { { "event", "refused" }, { "sends", refused }, { "connected", client.IsConnected } });

        // v1.1 game API, awaited.
        var words = client.SetWordsAsync(new[] { "cat", "dog", "house" }).GetAwaiter().GetResult();
        var ranked = client.StrokeAsync(last.X, last.Y, last.T).GetAwaiter().GetResult();
        client.SetWordsAsync(null).GetAwaiter().GetResult();
        string unknown = null;
        try
        {
            client.SetTargetAsync("no such word at all").GetAwaiter().GetResult();
        }
        catch (DoodleServerException e)
        {
            unknown = e.Error.Code;
        }
        var game = new Dictionary<string, object>
        {
            { "event", "game" }, { "features", welcome.Features.Cast<object>().ToList() }, { "protocol_minor", welcome.ProtocolMinor },
            { "words", words.Words.Cast<object>().ToList() }, { "ranked", ranked.Guesses.Select(g => (object)g.Word).ToList() },
            { "drawing", client.Drawing }, { "unknown_target", unknown },
        };
        if (client.HasFeature("teach"))
        {
            var example = new List<IList<Doodlestream.Stroke>> { new List<Doodlestream.Stroke> { new Doodlestream.Stroke(last.X, last.Y, last.T) } };
            var taught = client.TeachAsync("unity squiggle", example).GetAwaiter().GetResult();
            var forgotten = client.ForgetAsync("unity squiggle").GetAwaiter().GetResult();
            game["taught"] = taught.Word + " " + taught.Examples + " " + taught.Scope;
            game["forgotten"] = forgotten.Word + " " + forgotten.Scope;
        }
        Emit(game);

        // submit / sprite: the server may not know them yet (then it answers unknown_type).
        seq = client.Submit("unity test");
        var saved = Expect<ServerMessage>(seq);
        long? id = saved is SavedMessage ? ((SavedMessage)saved).Id : (long?)null;
        Emit(ReplyJson("submit", saved, seq));
        seq = client.RequestSprite(id, 64);
        Emit(ReplyJson("sprite", Expect<ServerMessage>(seq), seq));

        seq = client.Clear();
        var cleared = Expect<ClearedMessage>(seq);
        Emit(new Dictionary<string, object> { { "event", "cleared" }, { "seq", seq }, { "reply_seq", cleared.Seq } });
        seq = client.PenUp();
        Emit(GuessesJson("after_clear", Expect<GuessesMessage>(seq), seq));

        client.CloseAsync().GetAwaiter().GetResult();
        bool ended = disconnected.Wait(TimeSpan.FromSeconds(10));
        bool threw = false;
        try
        {
            client.PenUp();
        }
        catch (InvalidOperationException)
        {
            threw = true;
        }
        Emit(new Dictionary<string, object>
        {
            { "event", "closed" }, { "disconnected", ended }, { "by_client", bye != null && bye.ByClient },
            { "state", client.State.ToString() }, { "send_after_close_throws", threw }, { "live_total", _liveGuesses },
        });
        return 0;
    }

    /// <summary>The next message that is not a live guess; it must be a T and answer <paramref name="seq"/>.</summary>
    private static T Expect<T>(long? seq) where T : ServerMessage
    {
        ServerMessage m;
        do
        {
            if (!Inbox.TryTake(out m, TimeSpan.FromSeconds(20)))
                throw new TimeoutException("no reply to seq " + seq + " within 20 s");
        } while (seq.HasValue && m.Seq.HasValue && m.Seq.Value < seq.Value); // answers the awaitable calls already took
        var t = m as T;
        if (t == null) throw new InvalidOperationException("expected " + typeof(T).Name + " for seq " + seq + ", got " + m);
        return t;
    }

    private static Dictionary<string, object> GuessesJson(string ev, GuessesMessage m, long? seq = null)
    {
        return new Dictionary<string, object>
        {
            { "event", ev }, { "seq", seq }, { "reply_seq", m.Seq }, { "strokes", m.Strokes }, { "live", m.Live }, { "ms", m.Ms },
            { "words", m.Guesses.Select(g => (object)g.Word).ToList() }, { "scores", m.Guesses.Select(g => (object)g.Score).ToList() },
        };
    }

    private static Dictionary<string, object> ErrorJson(string ev, ErrorMessage m, long? seq)
    {
        return new Dictionary<string, object> { { "event", ev }, { "seq", seq }, { "reply_seq", m.Seq }, { "code", m.Code }, { "message", m.Message } };
    }

    private static Dictionary<string, object> ReplyJson(string ev, ServerMessage m, long seq)
    {
        var o = new Dictionary<string, object> { { "event", ev }, { "seq", seq }, { "reply_seq", m.Seq }, { "type", m.Type } };
        if (m is ErrorMessage) o["code"] = ((ErrorMessage)m).Code;
        if (m is SavedMessage) o["id"] = ((SavedMessage)m).Id;
        if (m is SpriteMessage) o["png_base64"] = Convert.ToBase64String(((SpriteMessage)m).Png);
        return o;
    }

    // ------------------------------------------------------------------ drawing input

    private sealed class Stroke
    {
        public float[] X;
        public float[] Y;
        public long[] T;
    }

    /// <summary>Parses [[xs, ys, ts], ...] of integers (the raw Quick, Draw! format), by hand: Mono's profile has no JSON parser.</summary>
    private static List<Stroke> ParseDrawing(string json)
    {
        var numbers = new List<List<List<long>>>();
        List<List<long>> stroke = null;
        List<long> list = null;
        int depth = 0;
        var num = new StringBuilder();
        foreach (char c in json)
        {
            if (c == '-' || char.IsDigit(c) || c == '.') { num.Append(c); continue; }
            if (num.Length > 0) { list.Add((long)Math.Round(double.Parse(num.ToString(), CultureInfo.InvariantCulture))); num.Clear(); }
            if (c == '[')
            {
                depth++;
                if (depth == 2) { stroke = new List<List<long>>(); numbers.Add(stroke); }
                if (depth == 3) { list = new List<long>(); stroke.Add(list); }
            }
            else if (c == ']') depth--;
        }
        return numbers.Select(s => new Stroke
        {
            X = s[0].Select(v => (float)v).ToArray(),
            Y = s[1].Select(v => (float)v).ToArray(),
            T = s[2].ToArray(),
        }).ToList();
    }

    // ------------------------------------------------------------------ JSON output

    private static readonly object EmitLock = new object();

    private static void Emit(Dictionary<string, object> o)
    {
        var sb = new StringBuilder();
        Json(sb, o);
        lock (EmitLock) Console.WriteLine(sb.ToString());
    }

    private static void Json(StringBuilder sb, object v)
    {
        if (v == null) sb.Append("null");
        else if (v is bool) sb.Append((bool)v ? "true" : "false");
        else if (v is string)
        {
            sb.Append('"');
            foreach (char c in (string)v)
            {
                if (c == '"' || c == '\\') sb.Append('\\').Append(c);
                else if (c < 0x20 || c > 0x7e) sb.Append("\\u").Append(((int)c).ToString("x4")); // ASCII out: a full-AOT run has no locale
                else sb.Append(c);
            }
            sb.Append('"');
        }
        else if (v is double || v is float) sb.Append(Convert.ToDouble(v).ToString("R", CultureInfo.InvariantCulture));
        else if (v is IDictionary)
        {
            sb.Append('{');
            bool first = true;
            foreach (DictionaryEntry e in (IDictionary)v)
            {
                if (!first) sb.Append(',');
                first = false;
                Json(sb, (string)e.Key);
                sb.Append(':');
                Json(sb, e.Value);
            }
            sb.Append('}');
        }
        else if (v is IEnumerable)
        {
            sb.Append('[');
            bool first = true;
            foreach (object item in (IEnumerable)v)
            {
                if (!first) sb.Append(',');
                first = false;
                Json(sb, item);
            }
            sb.Append(']');
        }
        else sb.Append(Convert.ToString(v, CultureInfo.InvariantCulture));
    }
}
