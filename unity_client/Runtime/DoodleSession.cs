// A game's connection to a doodlestream server across reconnects: protocol, drawing state, replay,
// back-off. Plain C# (no UnityEngine): DoodleStreamBehaviour pumps it from Update; a bot or a test
// pumps it from its own loop or a DoodlePumpThread.

using System;
using System.Collections.Generic;
using System.Net.WebSockets;
using System.Threading.Tasks;

namespace Doodlestream
{
    /// <summary>
    /// Keeps a game connected to a doodlestream server: connects on <see cref="Start"/>, reconnects
    /// with <see cref="Backoff"/> (a spread first delay after a server restart), keeps the drawing it
    /// sent and, on a new connection, resumes it (feature <c>resume</c>) and replays its strokes before
    /// anything sent later, with the word list, target and top-k set through it.
    /// </summary>
    /// <remarks>
    /// <para>Threading: one thread, the one that calls <see cref="Pump"/> (Unity's main thread, through
    /// <c>DoodleStreamBehaviour</c>). Every member is for that thread only, and every event is raised
    /// inside <see cref="Pump"/> on it. Nothing here starts a thread or a timer; times come from the
    /// clock passed to <see cref="Pump"/>, <see cref="Start"/> and <see cref="AddPoint"/>.</para>
    /// <para>The send methods return the message's <c>seq</c>, or null when there is no connection
    /// (they never throw for that: the drawing is kept and replayed on the next one). The <c>*Async</c>
    /// methods complete inside <see cref="Pump"/> with the server's answer.</para>
    /// <para>No garbage while drawing: <see cref="AddPoint"/> and <see cref="FlushPoints"/> reuse one
    /// batch, the client encodes into one reused buffer, and <see cref="Pump"/> allocates nothing while
    /// nothing arrives (tests/test_unity_client.py measures it).</para>
    /// </remarks>
    public sealed partial class DoodleSession : IDisposable
    {
        private readonly Func<IDoodleTransport> _factory;
        private readonly List<Stroke> _finished = new List<Stroke>(); // the drawing as sent, kept for a replay
        private readonly List<DoodleClient> _closing = new List<DoodleClient>(); // closed politely, pumped until they end
        private readonly Stroke _batch = new Stroke(); // points added since the last FlushPoints, reused
        private readonly Stack<Stroke> _spare = new Stack<Stroke>(); // strokes of cleared drawings, their lists' capacity kept
        private Stroke _current = new Stroke(); // points of the stroke in progress
        private double _drawingStartS = -1;
        private string _drawingKey;
        private int _drawingEpoch; // counts Clear()s: one drawing for the game, whatever sessions it spans
        private string _recognizedIn; // drawing epoch + word already raised as Recognized
        private long? _resumeSeq;
        private IList<string> _words;
        private string _target;
        private double? _targetThreshold;
        private int? _topK;
        private int _liveMs;
        private Backoff _backoff;
        private bool _running;
        private double _nowS, _nextAttemptS, _upSinceS;
        private DoodleClient _connecting; // opening, not yet announced
        private DoodleClient _client; // announced: the game's sends go here
        private Task<WelcomeMessage> _welcome;

        /// <summary>Creates a session whose connections use transports from <paramref name="transportFactory"/>
        /// (null: <see cref="ClientWebSocketTransport"/>; WebGL players pass <c>() =&gt; new WebGLWebSocketTransport()</c>).</summary>
        public DoodleSession(Func<IDoodleTransport> transportFactory = null)
        {
            _factory = transportFactory ?? (() => new ClientWebSocketTransport());
            ServerUrl = "ws://127.0.0.1:8765/ws";
            ConnectTimeout = TimeSpan.FromSeconds(10);
            ReplyTimeout = TimeSpan.FromSeconds(10);
            KeepAliveInterval = TimeSpan.FromSeconds(5);
            InitialBackoff = TimeSpan.FromSeconds(0.5);
            MaxBackoff = TimeSpan.FromSeconds(30);
            StableAfter = TimeSpan.FromSeconds(10);
            ReplayDrawingOnReconnect = true;
        }

        // ------------------------------------------------------------------ settings (read at each connection)

        /// <summary>The server's WebSocket URL (ws:// or wss://, ending in /ws).</summary>
        public string ServerUrl { get; set; }
        /// <summary>Token of a server run with <c>--token</c> (null or empty: none).</summary>
        public string Token { get; set; }
        /// <summary>Longest wait for the socket to open and <c>welcome</c>.</summary>
        public TimeSpan ConnectTimeout { get; set; }
        /// <summary>Longest wait for any answer; past it the connection is presumed dead and replaced (zero: never).</summary>
        public TimeSpan ReplyTimeout { get; set; }
        /// <summary>While nothing is sent this long, a keep-alive <c>hello</c> checks the server still answers (zero: never).</summary>
        public TimeSpan KeepAliveInterval { get; set; }
        /// <summary>Shortest wait before reconnecting (see <see cref="Backoff"/>).</summary>
        public TimeSpan InitialBackoff { get; set; }
        /// <summary>Longest wait between reconnect attempts.</summary>
        public TimeSpan MaxBackoff { get; set; }
        /// <summary>A connection that stayed up this long counts as good: the back-off starts again from its first wait.</summary>
        public TimeSpan StableAfter { get; set; }
        /// <summary>After a reconnect, resume the drawing and send its strokes again (default true).</summary>
        public bool ReplayDrawingOnReconnect { get; set; }
        /// <summary>Seed of the back-off's random delays (null: unique per session); for tests.</summary>
        public int? BackoffSeed { get; set; }

        // ------------------------------------------------------------------ state

        /// <summary>Where the connection is.</summary>
        public ConnectionState State { get; private set; }
        /// <summary>True while connected (the drawing replayed).</summary>
        public bool IsConnected { get { return State == ConnectionState.Connected; } }
        /// <summary>The welcome of the current connection, or null.</summary>
        public WelcomeMessage Welcome { get; private set; }
        /// <summary>The latest non-live guesses, or null.</summary>
        public GuessesMessage LastGuesses { get; private set; }
        /// <summary>Finished strokes of the drawing kept for a replay.</summary>
        public int StrokeCount { get { return _finished.Count; } }
        /// <summary>The connection in use, or null: for what the session does not wrap.</summary>
        public DoodleClient Client { get { return _client; } }
        /// <summary>True while started (connected, connecting or waiting to reconnect).</summary>
        public bool IsRunning { get { return _running; } }

        /// <summary>True when the current connection's server installed <paramref name="feature"/>.</summary>
        public bool HasFeature(string feature)
        {
            var w = Welcome;
            return w != null && w.HasFeature(feature);
        }

        // ------------------------------------------------------------------ events (raised inside Pump)

        /// <summary>Every <c>guesses</c> (after pen-up, stroke, undo; live ones have <see cref="GuessesMessage.Live"/>).</summary>
        public event Action<GuessesMessage> GuessesReceived;
        /// <summary>Once per drawing (until <see cref="Clear"/>) when the target word reaches its threshold; not again for a replay.</summary>
        public event Action<RecognizedMessage> Recognized;
        /// <summary>Every <c>error</c> the server sends (the session stays open).</summary>
        public event Action<ErrorMessage> ErrorReceived;
        /// <summary>A connection attempt failed or a connection broke; a retry follows.</summary>
        public event Action<Exception> ConnectionFailed;
        /// <summary><see cref="State"/> changed.</summary>
        public event Action<ConnectionState> ConnectionStateChanged;
        /// <summary>A connection is ready (after every reconnect too, once the drawing is replayed).</summary>
        public event Action<WelcomeMessage> Connected;
        /// <summary>A connection ended, with why.</summary>
        public event Action<DisconnectInfo> Disconnected;
        /// <summary>The answer to <see cref="Clear"/>.</summary>
        public event Action<ClearedMessage> Cleared;
        /// <summary>The answer to <see cref="Submit"/>.</summary>
        public event Action<SavedMessage> Saved;
        /// <summary>The answer to <see cref="RequestSprite"/>: a PNG.</summary>
        public event Action<SpriteMessage> SpriteReceived;
        /// <summary>The answer to <see cref="Teach"/>.</summary>
        public event Action<TaughtMessage> Taught;
        /// <summary>The answer to <see cref="Forget"/>.</summary>
        public event Action<ForgottenMessage> Forgotten;
        /// <summary>Every server message but welcome, after its typed event.</summary>
        public event Action<ServerMessage> MessageReceived;
        /// <summary>What the session did (connected, reconnecting in 0.4 s...), for a log.</summary>
        public event Action<string> Log;
        /// <summary>A handler that threw, or a server frame that could not be decoded; the session goes on.</summary>
        public event Action<Exception> Faulted;
        /// <summary>The delay chosen before each reconnect attempt.</summary>
        public event Action<TimeSpan> ReconnectScheduled;

        // ------------------------------------------------------------------ life

        /// <summary>Starts connecting (at once) with the settings now in force; <paramref name="nowSeconds"/> is the pumping clock.</summary>
        public void Start(double nowSeconds)
        {
            if (_running) return;
            _nowS = nowSeconds;
            _running = true;
            _backoff = new Backoff(InitialBackoff, MaxBackoff < InitialBackoff ? InitialBackoff : MaxBackoff, BackoffSeed);
            _nextAttemptS = double.MinValue;
        }

        /// <summary>Ends the connection. With <paramref name="flush"/> the frames already queued go out
        /// first: the connection is closed politely and pumped by later <see cref="Pump"/> calls until the
        /// server answered (at most 1 s); the transport is disposed only then (call <see cref="LetGo"/>
        /// when no more pumps will come). Without, it is disposed at once.</summary>
        public void Stop(bool flush)
        {
            if (flush) FlushPoints();
            _running = false;
            var c = _client ?? _connecting;
            _client = _connecting = null;
            _welcome = null;
            if (c != null)
            {
                if (flush && c.State == ConnectionState.Connected)
                {
                    c.CloseAsync(TimeSpan.FromSeconds(1));
                    _closing.Add(c);
                }
                else
                {
                    c.Dispose();
                }
            }
            Welcome = null;
            SetState(ConnectionState.Disconnected);
        }

        /// <summary>Lets go of the connections still closing (no more <see cref="Pump"/> calls will come: a
        /// disabled component): their transports are disposed, which sends what they hold in the background.</summary>
        public void LetGo()
        {
            foreach (var c in _closing) c.Dispose();
            _closing.Clear();
        }

        /// <summary><see cref="Stop"/> without flushing, and <see cref="LetGo"/>.</summary>
        public void Dispose()
        {
            Stop(false);
            LetGo();
        }

        /// <summary>Drives everything: the connection's events, timeouts and keep-alive, the closing
        /// connections, and reconnecting when the wait is over. Call it every frame.</summary>
        public void Pump(double nowSeconds)
        {
            _nowS = nowSeconds;
            for (int i = _closing.Count - 1; i >= 0; i--)
            {
                var closing = _closing[i];
                closing.Pump(nowSeconds);
                if (closing.State == ConnectionState.Disconnected) _closing.RemoveAt(i);
            }
            if (!_running) return;
            var client = _client ?? _connecting;
            if (client == null)
            {
                if (nowSeconds < _nextAttemptS) return;
                client = Open(nowSeconds);
                if (client == null) return;
            }
            client.Pump(nowSeconds);
            if (_connecting != null && _welcome != null && _welcome.Status == TaskStatus.RanToCompletion && _connecting == client)
                OnConnected(client, _welcome.Result);
        }

        private DoodleClient Open(double now)
        {
            DoodleClient created;
            try
            {
                created = new DoodleClient(RoutedUrl(new Uri(ServerUrl)), _factory())
                {
                    ConnectTimeout = ConnectTimeout,
                    ReplyTimeout = ReplyTimeout,
                    KeepAliveInterval = KeepAliveInterval,
                    Token = string.IsNullOrEmpty(Token) ? null : Token,
                };
            }
            catch (Exception e) // a malformed URL: retrying will not help
            {
                _running = false;
                Fail(e, "bad server URL '" + ServerUrl + "'");
                return null;
            }
            _connecting = created;
            Wire(created);
            SetState(ConnectionState.Connecting);
            _welcome = created.Connect(now);
            return created;
        }

        // Settings and the drawing go to the new connection first, then it is published.
        private void OnConnected(DoodleClient client, WelcomeMessage welcome)
        {
            _connecting = null;
            _welcome = null;
            if (!client.IsConnected) return; // ended meanwhile; its Disconnected was handled
            _upSinceS = _nowS;
            try
            {
                client.Hello(_liveMs);
                _resumeSeq = null;
                // In a room the turn's drawing is the server's: the rejoin (last, after the settings) replays it.
                bool rejoin = HoldsSeat && welcome.HasFeature("rooms");
                if (HoldsSeat && !rejoin) ForgetRoom("this server has no rooms");
                bool hasDrawing = _finished.Count > 0 || _current.Count > 0;
                if (ReplayDrawingOnReconnect && !rejoin && hasDrawing && _drawingKey != null && welcome.HasFeature("resume"))
                    _resumeSeq = client.Resume(_drawingKey);
                if (_words != null) client.SetWords(_words);
                if (_topK.HasValue) client.SetTopK(_topK.Value);
                if (_target != null) client.SetTarget(_target, _targetThreshold);
                if (rejoin)
                {
                    Rejoin(client);
                }
                else if (ReplayDrawingOnReconnect)
                {
                    foreach (var stroke in _finished) client.SendStroke(stroke.X, stroke.Y, stroke.T);
                    if (_current.Count > 0) client.SendPoints(_current.X, _current.Y, _current.T);
                }
                else
                {
                    _finished.Clear();
                    _current = new Stroke();
                    _drawingKey = null;
                }
                if (!rejoin) SendJoin(client); // a JoinRoom waiting for this connection
            }
            catch (Exception e) // the connection ended meanwhile, or a kept setting no longer fits its limits
            {
                Say("could not restore the session: " + e.Message);
            }
            _client = client;
            Welcome = welcome;
            Say("connected to " + ServerUrl + " (model " + welcome.Model + ")");
            SetState(ConnectionState.Connected);
            Raise(Connected, welcome);
        }

        private void OnEnded(DoodleClient client, DisconnectInfo info)
        {
            if (client != _client && client != _connecting) return; // a connection already stopped
            // Welcomed counts as connected, even when the server closed before the session announced it.
            bool announced = client == _client || (_welcome != null && _welcome.Status == TaskStatus.RanToCompletion);
            double upSince = client == _client ? _upSinceS : _nowS;
            _client = _connecting = null;
            _welcome = null;
            Welcome = null;
            SetState(ConnectionState.Disconnected);
            if (announced)
            {
                Say("disconnected (" + info + ")");
                Raise(Disconnected, info);
                if (info.Error != null) Fail(info.Error, "connection lost");
            }
            else
            {
                Fail(info.Error ?? new WebSocketException(info.Reason), "cannot connect to " + ServerUrl);
            }
            if (!_running) return;
            if (announced && _nowS - upSince >= StableAfter.TotalSeconds) _backoff.Reset();
            int code = info.CloseStatus.HasValue ? (int)info.CloseStatus.Value : 0;
            if (announced && (code == 1008 || code == 1009 || code == 1013)) _backoff.Escalate(2); // retrying soon will not help
            // 1001: the server went away (a restart): all its clients were dropped at once; spread them.
            var delay = announced && code == 1001 ? _backoff.NextAfterRestart() : _backoff.Next();
            _nextAttemptS = _nowS + delay.TotalSeconds;
            Say("reconnecting in " + delay.TotalSeconds.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + " s");
            Raise(ReconnectScheduled, delay);
        }

        private void Wire(DoodleClient client)
        {
            client.GuessesReceived += m =>
            {
                if (!Current(client)) return;
                if (!m.Live) LastGuesses = m;
                if (m.Drawing != null) _drawingKey = m.Drawing;
                Raise(GuessesReceived, m);
            };
            client.Recognized += m =>
            {
                if (!Current(client)) return;
                string once = _drawingEpoch + "\n" + m.Word; // once per drawing, a reconnect's replay included
                if (once == _recognizedIn) return;
                _recognizedIn = once;
                Raise(Recognized, m);
            };
            client.ErrorReceived += m =>
            {
                if (!Current(client)) return;
                if (m.Code == "unknown_drawing" && m.Seq.HasValue && m.Seq == _resumeSeq)
                {
                    Say("the drawing could not be resumed; it is replayed as a new one");
                    return;
                }
                if (m.Seq.HasValue && m.Seq == _rejoinSeq) LostSeat(m);
                if (m.Seq.HasValue && JoinRefused(m)) return; // retried through the room's server
                Raise(ErrorReceived, m);
            };
            client.Cleared += m =>
            {
                if (!Current(client)) return;
                LastGuesses = null;
                if (m.Drawing != null) _drawingKey = m.Drawing;
                Raise(Cleared, m);
            };
            client.Saved += m => { if (Current(client)) Raise(Saved, m); };
            client.SpriteReceived += m => { if (Current(client)) Raise(SpriteReceived, m); };
            client.Taught += m => { if (Current(client)) Raise(Taught, m); };
            client.Forgotten += m => { if (Current(client)) Raise(Forgotten, m); };
            client.MessageReceived += m => { if (Current(client) && !(m is WelcomeMessage)) Raise(MessageReceived, m); };
            client.Faulted += e => { if (Current(client)) Fault(e); };
            client.Disconnected += info => OnEnded(client, info);
            WireRooms(client);
        }

        private bool Current(DoodleClient c)
        {
            return c == _client || c == _connecting;
        }

        // ------------------------------------------------------------------ drawing

        /// <summary>Starts a stroke at (<paramref name="x"/>, <paramref name="y"/>) (y grows downwards) at
        /// <paramref name="nowSeconds"/>; a stroke in progress ends first. Points go out in <see cref="FlushPoints"/>.</summary>
        public void BeginStroke(float x, float y, double nowSeconds)
        {
            if (_current.Count > 0 || _batch.Count > 0) EndStroke();
            AddPoint(x, y, nowSeconds);
        }

        /// <summary>Adds a point to the stroke in progress; its time is <paramref name="nowSeconds"/> since the drawing began. Nothing allocated.</summary>
        public void AddPoint(float x, float y, double nowSeconds)
        {
            if (_drawingStartS < 0) _drawingStartS = nowSeconds;
            _batch.Add(x, y, (long)((nowSeconds - _drawingStartS) * 1000.0));
        }

        /// <summary>Sends the points added since the last call as one message (once a frame: the behaviour calls it in LateUpdate).</summary>
        public void FlushPoints()
        {
            if (_batch.Count == 0) return;
            SendPoints(_batch.X, _batch.Y, _batch.T);
            _batch.X.Clear();
            _batch.Y.Clear();
            _batch.T.Clear();
        }

        /// <summary>Ends the stroke begun with <see cref="BeginStroke"/> (its last points go first); guesses follow.</summary>
        public long? EndStroke()
        {
            FlushPoints();
            return PenUp();
        }

        /// <summary><see cref="EndStroke"/>, waiting for the guesses.</summary>
        public Task<GuessesMessage> EndStrokeAsync()
        {
            FlushPoints();
            return PenUpAsync();
        }

        /// <summary>Appends points to the current stroke (y grows downwards); see <see cref="DoodleClient.SendPoints"/>.</summary>
        public long? SendPoints(IList<float> x, IList<float> y, IList<long> t = null)
        {
            for (int i = 0; i < x.Count; i++) _current.Add(x[i], y[i], t != null ? t[i] : 0);
            if (t == null) _current.T = null;
            var c = _client;
            if (c == null) return null;
            try
            {
                return c.SendPoints(x, y, t);
            }
            catch (InvalidOperationException) // not connected any more, or the send queue is full
            {
                return null;
            }
        }

        /// <summary>Appends one point (allocates its arrays: for occasional use; draw with <see cref="AddPoint"/>).</summary>
        public long? SendPoint(float x, float y, long? t = null)
        {
            return SendPoints(new[] { x }, new[] { y }, t.HasValue ? new[] { t.Value } : null);
        }

        /// <summary>Ends the current stroke; guesses follow.</summary>
        public long? PenUp()
        {
            FinishCurrent();
            return Try(c => c.PenUp());
        }

        /// <summary>Ends the current stroke and waits for the guesses.</summary>
        /// <exception cref="InvalidOperationException">Not connected (the stroke is kept and replayed on the next connection).</exception>
        public Task<GuessesMessage> PenUpAsync()
        {
            FinishCurrent();
            return Ask(c => c.PenUpAsync());
        }

        /// <summary>Sends a whole stroke; guesses follow.</summary>
        public long? SendStroke(IList<float> x, IList<float> y, IList<long> t = null)
        {
            FinishCurrent();
            _finished.Add(new Stroke(x, y, t));
            return Try(c => c.SendStroke(x, y, t));
        }

        /// <summary>Sends a whole stroke and waits for the guesses.</summary>
        public Task<GuessesMessage> StrokeAsync(IList<float> x, IList<float> y, IList<long> t = null)
        {
            FinishCurrent();
            _finished.Add(new Stroke(x, y, t));
            return Ask(c => c.StrokeAsync(x, y, t));
        }

        /// <summary>Drops the stroke in progress, else the last stroke; guesses for what is left follow.</summary>
        public long? Undo()
        {
            FlushPoints();
            if (_current.Count > 0) _current = new Stroke();
            else if (_finished.Count > 0) _finished.RemoveAt(_finished.Count - 1);
            return Try(c => c.Undo());
        }

        /// <summary>Starts a new drawing (the kept one is forgotten); <see cref="Cleared"/> follows.</summary>
        public long? Clear()
        {
            ForgetDrawing();
            return Try(c => c.Clear());
        }

        // The kept drawing is dropped here only (the server's was cleared, or is about to be).
        private void ForgetDrawing()
        {
            _batch.X.Clear();
            _batch.Y.Clear();
            _batch.T.Clear();
            Recycle(_current);
            foreach (var stroke in _finished) Recycle(stroke);
            _current = NewStroke();
            _finished.Clear();
            _drawingStartS = -1;
            _drawingKey = null;
            _drawingEpoch++;
        }

        private void FinishCurrent()
        {
            FlushPoints();
            if (_current.Count == 0) return;
            _finished.Add(_current);
            _current = NewStroke();
        }

        // A stroke from a cleared drawing: its lists keep their capacity, so the next rounds draw without growing them.
        private Stroke NewStroke()
        {
            return _spare.Count > 0 ? _spare.Pop() : new Stroke();
        }

        private void Recycle(Stroke s)
        {
            if (_spare.Count >= 64) return;
            s.X.Clear();
            s.Y.Clear();
            if (s.T == null) s.T = new List<long>();
            s.T.Clear();
            _spare.Push(s);
        }

        // ------------------------------------------------------------------ game API

        /// <summary>Live guesses every this many ms while drawing (0 = off, else 50..5000), kept across reconnects.</summary>
        public int LiveMs
        {
            get { return _liveMs; }
            set
            {
                _liveMs = value;
                Try(c => c.Hello(value));
            }
        }

        /// <summary>Ranks only <paramref name="words"/> from now on (null = every word); kept across reconnects.</summary>
        public long? SetWords(IList<string> words)
        {
            _words = words == null ? null : new List<string>(words);
            return Try(c => c.SetWords(_words));
        }

        /// <summary>The word the player is to draw (null = none), kept across reconnects.</summary>
        public long? SetTarget(string word, double? threshold = null)
        {
            _target = word;
            _targetThreshold = threshold;
            return Try(c => c.SetTarget(word, threshold));
        }

        /// <summary><see cref="SetTarget"/>, waiting for the settings now in force.</summary>
        public Task<HelloMessage> SetTargetAsync(string word, double? threshold = null)
        {
            _target = word;
            _targetThreshold = threshold;
            return Ask(c => c.SetTargetAsync(word, threshold));
        }

        /// <summary>Guesses per reply (1..20), kept across reconnects.</summary>
        public long? SetTopK(int topK)
        {
            _topK = topK;
            return Try(c => c.SetTopK(topK));
        }

        /// <summary>Stores the current drawing as <paramref name="word"/>; <see cref="Saved"/> follows.</summary>
        public long? Submit(string word) { return Try(c => c.Submit(word)); }

        /// <summary>Stores the current drawing and waits for its id.</summary>
        public Task<SavedMessage> SubmitAsync(string word) { return Ask(c => c.SubmitAsync(word)); }

        /// <summary>Asks for a PNG of a stored drawing or of the current one; <see cref="SpriteReceived"/> follows.</summary>
        public long? RequestSprite(long? id = null, int? size = null, string color = null, float? width = null)
        {
            return Try(c => c.RequestSprite(id, size, color, width));
        }

        /// <summary>A PNG of the current drawing (or of stored drawing <paramref name="id"/>), awaited.</summary>
        public Task<SpriteMessage> SpriteAsync(int? size = null, string color = null, float? width = null, long? id = null)
        {
            return Ask(c => c.SpriteAsync(size, color, width, id));
        }

        /// <summary>Teaches a custom word from example drawings; <see cref="Taught"/> follows.</summary>
        public long? Teach(string word, IList<IList<Stroke>> drawings, string scope = "session", string adminToken = null)
        {
            return Try(c => c.Teach(word, drawings, scope, adminToken));
        }

        /// <summary>Removes a custom word; <see cref="Forgotten"/> follows.</summary>
        public long? Forget(string word, string scope = "session", string adminToken = null)
        {
            return Try(c => c.Forget(word, scope, adminToken));
        }

        /// <summary>Asks the server to classify a PNG/JPEG of a canvas; guesses follow.</summary>
        public long? SendImage(byte[] png) { return Try(c => c.SendImage(png)); }

        private long? Try(Func<DoodleClient, long> send)
        {
            var c = _client;
            if (c == null) return null;
            try
            {
                return send(c);
            }
            catch (InvalidOperationException) // not connected (any more), or the send queue is full
            {
                return null;
            }
        }

        private Task<T> Ask<T>(Func<DoodleClient, Task<T>> send)
        {
            var c = _client;
            if (c == null) throw new InvalidOperationException("not connected");
            return send(c);
        }

        // ------------------------------------------------------------------ raising

        private void Fail(Exception e, string what)
        {
            Say(what + ": " + e.Message);
            Raise(ConnectionFailed, e);
        }

        private void Say(string what)
        {
            Raise(Log, what);
        }

        private void SetState(ConnectionState s)
        {
            if (s == State) return;
            State = s;
            Raise(ConnectionStateChanged, s);
        }

        private void Fault(Exception e)
        {
            Handlers.Report(Faulted, e);
        }

        private Action<Exception> _fault; // made once

        // Each handler on its own: one that throws is reported through Faulted and the others still run.
        private void Raise<T>(Action<T> handler, T arg)
        {
            Handlers.InvokeEach(handler, arg, _fault ?? (_fault = Fault));
        }
    }
}
