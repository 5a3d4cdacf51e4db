// The Unity side of the doodlestream client: one MonoBehaviour that owns the connection.

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;
using UnityEngine;
using UnityEngine.Events;

namespace Doodlestream
{
    /// <summary>A UnityEvent carrying a <see cref="GuessesMessage"/> (wire it in the Inspector).</summary>
    [Serializable]
    public sealed class GuessesEvent : UnityEvent<GuessesMessage> { }

    /// <summary>A UnityEvent carrying a <see cref="SpriteMessage"/>.</summary>
    [Serializable]
    public sealed class SpriteEvent : UnityEvent<SpriteMessage> { }

    /// <summary>A UnityEvent carrying a string (a word, an error text).</summary>
    [Serializable]
    public sealed class TextEvent : UnityEvent<string> { }

    /// <summary>A UnityEvent carrying the new <see cref="ConnectionState"/>.</summary>
    [Serializable]
    public sealed class ConnectionStateEvent : UnityEvent<ConnectionState> { }

    /// <summary>
    /// Owns the connection to a doodlestream server: connects when enabled, reconnects with
    /// exponential back-off, replays the drawing after a reconnect, and raises every event on
    /// Unity's main thread.
    /// </summary>
    /// <remarks>
    /// <para>The socket lives on thread-pool threads (<see cref="DoodleClient"/>), or, pumped (WebGL
    /// players, or <see cref="TransportFactory"/> set), on no thread at all: <c>Update</c> drives it.
    /// Everything it reports is put on a <see cref="ConcurrentQueue{T}"/> and raised from <c>Update</c>, in
    /// arrival order, so handlers may touch GameObjects. Events that arrive while the component is
    /// disabled are dropped (the connection is closed then anyway).</para>
    /// <para>The send methods may be called from any thread (from the main thread only when pumped); they return the message's <c>seq</c>, or
    /// null when there is no connection (they never throw for that). The <c>*Async</c> methods
    /// complete with the server's answer (awaited from a MonoBehaviour, the code after
    /// <c>await</c> runs on the main thread).</para>
    /// <para>The behaviour keeps the drawing it sent (once, here: a game need not keep it too).
    /// After a reconnect it asks the server to resume that drawing (feature <c>resume</c>, so the
    /// history keeps it once) and replays its strokes, before anything sent later; the word list,
    /// target and top-k set through it are sent again too. <see cref="ReplayDrawingOnReconnect"/>
    /// turns the replay off.</para>
    /// </remarks>
    [DisallowMultipleComponent]
    [AddComponentMenu("Doodlestream/Doodle Stream")]
    public sealed class DoodleStreamBehaviour : MonoBehaviour
    {
        /// <summary>Shortest live-guess interval of protocol v1, in ms (0 = off is allowed too).</summary>
        public const int MinLiveMs = 50;
        /// <summary>Longest live-guess interval of protocol v1, in ms.</summary>
        public const int MaxLiveMs = 5000;

        [Header("Server")]
        [Tooltip("WebSocket URL of the doodlestream server (ws:// or wss://), ending in /ws.")]
        [SerializeField] private string serverUrl = "ws://127.0.0.1:8765/ws";

        [Tooltip("Token of a server run with --token: sent as Authorization: Bearer (empty = none).")]
        [SerializeField] private string token = "";

        [Tooltip("Live guesses every this many milliseconds while a stroke is drawn (0 = only on pen-up; else 50..5000).")]
        [Range(0, 5000)]
        [SerializeField] private int liveMs = 250;

        [Tooltip("Longest wait for the socket to open and the server's welcome, in seconds.")]
        [Min(1f)]
        [SerializeField] private float connectTimeoutSeconds = 10f;

        [Header("Dead connections (phones, flaky networks)")]
        [Tooltip("Longest wait for the answer to any request (pen-up, stroke...); past it the connection is presumed dead and replaced. 0 = never.")]
        [Min(0f)]
        [SerializeField] private float replyTimeoutSeconds = 10f;

        [Tooltip("While nothing is sent for this long, a keep-alive hello checks that the server still answers. 0 = never.")]
        [Min(0f)]
        [SerializeField] private float keepAliveSeconds = 5f;

        [Tooltip("Close the connection when the app is paused (sent to the background) and reconnect on resume.")]
        [SerializeField] private bool closeWhenPaused = true;

        [Header("Reconnect")]
        [Tooltip("First wait before reconnecting, in seconds; it doubles after every failed attempt.")]
        [Min(0.05f)]
        [SerializeField] private float initialBackoffSeconds = 0.5f;

        [Tooltip("Longest wait between reconnect attempts, in seconds.")]
        [Min(0.05f)]
        [SerializeField] private float maxBackoffSeconds = 30f;

        [Tooltip("A connection counts as good, and the back-off starts again from its first wait, once it stayed up this long (s).")]
        [Min(0f)]
        [SerializeField] private float stableAfterSeconds = 10f;

        [Tooltip("After a reconnect, resume the drawing on the server and send its strokes again.")]
        [SerializeField] private bool replayDrawingOnReconnect = true;

        [Tooltip("Keep this GameObject (its root) and the connection when another scene loads.")]
        [SerializeField] private bool keepAcrossScenes = false;

        [Tooltip("Log connects, disconnects and retries to the Console.")]
        [SerializeField] private bool logConnection = true;

        [Header("Events (raised on the main thread)")]
        [SerializeField] private GuessesEvent onGuesses = new GuessesEvent();
        [Tooltip("The best guess of every reply (live ones included).")]
        [SerializeField] private TextEvent onTopGuess = new TextEvent();
        [Tooltip("The target word, when the server recognized it in the drawing.")]
        [SerializeField] private TextEvent onRecognized = new TextEvent();
        [Tooltip("Server errors and connection failures, as text.")]
        [SerializeField] private TextEvent onError = new TextEvent();
        [SerializeField] private SpriteEvent onSprite = new SpriteEvent();
        [SerializeField] private ConnectionStateEvent onConnectionStateChanged = new ConnectionStateEvent();

        private readonly ConcurrentQueue<Action> _mainThread = new ConcurrentQueue<Action>();
        private readonly object _drawingLock = new object();
        private readonly List<Stroke> _finished = new List<Stroke>(); // the drawing as sent, kept for a replay
        private Stroke _current = new Stroke(); // points of the stroke in progress
        private Stroke _batch; // points added through AddPoint this frame, sent in LateUpdate
        private double _drawingStartS = -1;
        private string _drawingKey;
        private int _drawingEpoch; // counts Clear()s: one drawing for the game, whatever sessions it spans
        private string _recognizedIn; // drawing epoch + word already raised as Recognized
        private long? _resumeSeq;
        private IList<string> _words;
        private string _target;
        private double? _targetThreshold;
        private int? _topK;
        private CancellationTokenSource _run;
        private DoodleClient _client;
        private int _generation;
        private bool _closedForPause;
        private ConnectionState _state = ConnectionState.Disconnected;

        /// <summary>Raised for every <c>guesses</c> (after pen-up, stroke, undo; live ones have <see cref="GuessesMessage.Live"/>).</summary>
        public event Action<GuessesMessage> GuessesReceived;
        /// <summary>Raised once per drawing (until <see cref="Clear"/>) when the target word (<see cref="SetTarget"/>) reaches its threshold; not again when a reconnect replays the drawing.</summary>
        public event Action<RecognizedMessage> Recognized;
        /// <summary>Raised for every <c>error</c> the server sends (the session stays open).</summary>
        public event Action<ErrorMessage> ErrorReceived;
        /// <summary>Raised when a connection attempt fails or a connection breaks; a retry follows.</summary>
        public event Action<Exception> ConnectionFailed;
        /// <summary>Raised when <see cref="State"/> changes.</summary>
        public event Action<ConnectionState> ConnectionStateChanged;
        /// <summary>Raised when a connection is ready (after every reconnect too, once the drawing is replayed), with the server's welcome.</summary>
        public event Action<WelcomeMessage> Connected;
        /// <summary>Raised when a connection ends, with why.</summary>
        public event Action<DisconnectInfo> Disconnected;
        /// <summary>Raised for the answer to <see cref="Clear"/>.</summary>
        public event Action<ClearedMessage> Cleared;
        /// <summary>Raised for the answer to <see cref="Submit"/>: the stored drawing's id.</summary>
        public event Action<SavedMessage> Saved;
        /// <summary>Raised for the answer to <see cref="RequestSprite"/>: a PNG.</summary>
        public event Action<SpriteMessage> SpriteReceived;
        /// <summary>Raised for the answer to <see cref="Teach"/>.</summary>
        public event Action<TaughtMessage> Taught;
        /// <summary>Raised for the answer to <see cref="Forget"/>.</summary>
        public event Action<ForgottenMessage> Forgotten;
        /// <summary>Raised for every server message, after its typed event.</summary>
        public event Action<ServerMessage> MessageReceived;

        /// <summary>The server URL; setting it while enabled reconnects to the new URL.</summary>
        public string ServerUrl
        {
            get { return serverUrl; }
            set
            {
                if (value == serverUrl) return;
                serverUrl = value;
                Restart();
            }
        }

        /// <summary>The server's token (sent as <c>Authorization: Bearer</c>); setting it while enabled reconnects.</summary>
        public string Token
        {
            get { return token; }
            set
            {
                if (value == token) return;
                token = value;
                Restart();
            }
        }

        /// <summary>Live-guess interval asked for on every connection, in ms (0 = off), clamped to 50..5000
        /// as the Inspector does. Setting it while connected sends <c>hello</c>.</summary>
        public int LiveMs
        {
            get { return liveMs; }
            set
            {
                liveMs = ClampLiveMs(value);
                Try(x => x.Hello(liveMs));
            }
        }

        /// <summary>After a reconnect, resume the drawing and send its strokes again (default true).</summary>
        public bool ReplayDrawingOnReconnect
        {
            get { return replayDrawingOnReconnect; }
            set { replayDrawingOnReconnect = value; }
        }

        /// <summary>The connection's state as last reported on the main thread.</summary>
        public ConnectionState State { get { return _state; } }

        /// <summary>True while connected (as last reported on the main thread).</summary>
        public bool IsConnected { get { return _state == ConnectionState.Connected; } }

        /// <summary>The welcome of the current connection, or null.</summary>
        public WelcomeMessage Welcome { get; private set; }

        /// <summary>The latest non-live guesses, or null.</summary>
        public GuessesMessage LastGuesses { get; private set; }

        /// <summary>Finished strokes of the drawing kept for a replay.</summary>
        public int StrokeCount { get { lock (_drawingLock) return _finished.Count; } }

        /// <summary>True when the current connection's server installed <paramref name="feature"/> (see <see cref="WelcomeMessage.Features"/>).</summary>
        public bool HasFeature(string feature)
        {
            var w = Welcome;
            return w != null && w.HasFeature(feature);
        }

        // ------------------------------------------------------------------ drawing (any thread)

        /// <summary>Appends points to the current stroke (y grows downwards); see <see cref="DoodleClient.SendPoints"/>.</summary>
        public long? SendPoints(IList<float> x, IList<float> y, IList<long> t = null)
        {
            lock (_drawingLock)
            {
                for (int i = 0; i < x.Count; i++) _current.Add(x[i], y[i], t != null ? t[i] : 0);
                if (t == null) _current.T = null;
                return Try(c => c.SendPoints(x, y, t));
            }
        }

        /// <summary>Appends one point to the current stroke (y grows downwards; <paramref name="t"/> in ms since the drawing began).</summary>
        public long? SendPoint(float x, float y, long? t = null)
        {
            return SendPoints(new[] { x }, new[] { y }, t.HasValue ? new[] { t.Value } : null);
        }

        /// <summary>Ends the current stroke; guesses follow.</summary>
        public long? PenUp()
        {
            lock (_drawingLock)
            {
                FinishCurrent();
                return Try(c => c.PenUp());
            }
        }

        /// <summary>Ends the current stroke and waits for the guesses.</summary>
        /// <exception cref="InvalidOperationException">Not connected (the stroke is kept and replayed on the next connection).</exception>
        public Task<GuessesMessage> PenUpAsync()
        {
            lock (_drawingLock)
            {
                FinishCurrent();
                return Ask(c => c.PenUpAsync());
            }
        }

        /// <summary>Sends a whole stroke; guesses follow.</summary>
        public long? SendStroke(IList<float> x, IList<float> y, IList<long> t = null)
        {
            lock (_drawingLock)
            {
                _finished.Add(new Stroke(x, y, t));
                return Try(c => c.SendStroke(x, y, t));
            }
        }

        /// <summary>Sends a whole stroke and waits for the guesses.</summary>
        public Task<GuessesMessage> StrokeAsync(IList<float> x, IList<float> y, IList<long> t = null)
        {
            lock (_drawingLock)
            {
                _finished.Add(new Stroke(x, y, t));
                return Ask(c => c.StrokeAsync(x, y, t));
            }
        }

        /// <summary>Starts a stroke at <paramref name="screen"/> (Unity screen pixels, y up, as
        /// <c>Input.mousePosition</c> or the Input System's pointer position). Points added during a
        /// frame go out as one message in <c>LateUpdate</c>; times come from the realtime clock.</summary>
        public void BeginStroke(Vector2 screen)
        {
            lock (_drawingLock)
            {
                if (_current.Count > 0 || (_batch != null && _batch.Count > 0)) EndStrokeLocked();
                AddPointLocked(screen);
            }
        }

        /// <summary>Adds a point in screen pixels (y up) to the stroke begun with <see cref="BeginStroke"/>.</summary>
        public void AddPoint(Vector2 screen)
        {
            lock (_drawingLock) AddPointLocked(screen);
        }

        /// <summary>Ends the stroke begun with <see cref="BeginStroke"/> (its last points are sent first); guesses follow.</summary>
        public long? EndStroke()
        {
            lock (_drawingLock) return EndStrokeLocked();
        }

        /// <summary><see cref="EndStroke"/>, waiting for the guesses.</summary>
        public Task<GuessesMessage> EndStrokeAsync()
        {
            lock (_drawingLock)
            {
                FlushBatch();
                return PenUpAsync();
            }
        }

        /// <summary>Drops the stroke in progress, else the last stroke; guesses for what is left follow.</summary>
        public long? Undo()
        {
            lock (_drawingLock)
            {
                FlushBatch();
                if (_current.Count > 0) _current = new Stroke();
                else if (_finished.Count > 0) _finished.RemoveAt(_finished.Count - 1);
                return Try(c => c.Undo());
            }
        }

        /// <summary>Starts a new drawing (the kept one is forgotten); <see cref="Cleared"/> follows.</summary>
        public long? Clear()
        {
            lock (_drawingLock)
            {
                _batch = null;
                _current = new Stroke();
                _finished.Clear();
                _drawingStartS = -1;
                _drawingKey = null;
                _drawingEpoch++;
                return Try(c => c.Clear());
            }
        }

        private void FinishCurrent()
        {
            FlushBatch();
            if (_current.Count > 0) _finished.Add(_current);
            _current = new Stroke();
        }

        private void AddPointLocked(Vector2 screen)
        {
            double now = Time.realtimeSinceStartupAsDouble;
            if (_drawingStartS < 0) _drawingStartS = now;
            if (_batch == null) _batch = new Stroke();
            _batch.Add(screen.x, Screen.height - screen.y, (long)((now - _drawingStartS) * 1000.0));
        }

        private long? EndStrokeLocked()
        {
            FlushBatch();
            return PenUp();
        }

        // Sends the points added since the last frame as one message.
        private void FlushBatch()
        {
            var b = _batch;
            _batch = null;
            if (b != null && b.Count > 0) SendPoints(b.X, b.Y, b.T);
        }

        // ------------------------------------------------------------------ game API

        /// <summary>Ranks only <paramref name="words"/> from now on (null = every word); kept across reconnects.</summary>
        public long? SetWords(IList<string> words)
        {
            _words = words == null ? null : new List<string>(words);
            return Try(c => c.SetWords(_words));
        }

        /// <summary>The word the player is to draw (null = none), kept across reconnects: every guesses then
        /// carries <see cref="GuessesMessage.Target"/> and <see cref="Recognized"/> is raised when it is drawn.</summary>
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

        /// <summary>Stores the current drawing as <paramref name="word"/> and waits for its id.</summary>
        public Task<SavedMessage> SubmitAsync(string word) { return Ask(c => c.SubmitAsync(word)); }

        /// <summary>Asks for a PNG of a stored drawing (<paramref name="id"/>) or of the current one; <see cref="SpriteReceived"/> follows.</summary>
        public long? RequestSprite(long? id = null, int? size = null, string color = null, float? width = null)
        {
            return Try(c => c.RequestSprite(id, size, color, width));
        }

        /// <summary>A PNG of the current drawing (or of stored drawing <paramref name="id"/>), awaited; <see cref="DoodleSprites"/> turns it into a Sprite.</summary>
        public Task<SpriteMessage> SpriteAsync(int? size = null, string color = null, float? width = null, long? id = null)
        {
            return Ask(c => c.SpriteAsync(size, color, width, id));
        }

        /// <summary>Teaches a custom word from example drawings; <see cref="Taught"/> follows.</summary>
        public long? Teach(string word, IList<IList<Stroke>> drawings, string scope = "session", string adminToken = null)
        {
            return Try(c => c.Teach(word, drawings, scope, adminToken));
        }

        /// <summary><see cref="Teach"/>, waiting for the answer.</summary>
        public Task<TaughtMessage> TeachAsync(string word, IList<IList<Stroke>> drawings, string scope = "session", string adminToken = null)
        {
            return Ask(c => c.TeachAsync(word, drawings, scope, adminToken));
        }

        /// <summary>Removes a custom word; <see cref="Forgotten"/> follows.</summary>
        public long? Forget(string word, string scope = "session", string adminToken = null)
        {
            return Try(c => c.Forget(word, scope, adminToken));
        }

        /// <summary>Asks the server to classify a PNG/JPEG of a canvas; guesses follow. Over the server's
        /// <c>max_image_bytes</c> it throws <see cref="ArgumentException"/> instead of losing the connection.</summary>
        public long? SendImage(byte[] png) { return Try(c => c.SendImage(png)); }

        private long? Try(Func<DoodleClient, long> send)
        {
            var c = Volatile.Read(ref _client);
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
            var c = Volatile.Read(ref _client);
            if (c == null) throw new InvalidOperationException("not connected");
            return send(c);
        }

        // ------------------------------------------------------------------ Unity messages

        private void Awake()
        {
            if (keepAcrossScenes) DontDestroyOnLoad(transform.root.gameObject);
        }

        private void OnEnable()
        {
            StartConnection();
        }

        private void OnDisable()
        {
            _closedForPause = false;
            Stop(true);
        }

        // A phone app sent to the background loses its socket silently: close it now, reconnect on return.
        private void OnApplicationPause(bool paused)
        {
            if (!closeWhenPaused) return;
            if (paused && (_run != null || _pumped != null))
            {
                if (logConnection) Debug.Log("doodlestream: paused, closing the connection", this);
                Stop(true, true); // still enabled: Update pumps a pumped close
                _closedForPause = true;
            }
            else if (!paused && _closedForPause)
            {
                _closedForPause = false;
                if (isActiveAndEnabled) StartConnection();
            }
        }

        /// <summary>Raises the events queued by the socket threads since the last frame.</summary>
        private void Update()
        {
            if (_closingPumped.Count > 0)
            {
                foreach (var closing in _closingPumped) closing.Pump(Time.realtimeSinceStartupAsDouble);
                _closingPumped.RemoveAll(closing => closing.State == ConnectionState.Disconnected);
            }
            if (_pumped != null) PumpConnection(_pumped, Time.realtimeSinceStartupAsDouble);
            // Only what is queued now: handlers that cause new events do not keep this frame busy.
            int n = _mainThread.Count;
            Action action;
            while (n-- > 0 && _mainThread.TryDequeue(out action))
            {
                try
                {
                    action();
                }
                catch (Exception e)
                {
                    Debug.LogException(e, this);
                }
            }
        }

        /// <summary>Sends the points <see cref="AddPoint"/> collected this frame as one message.</summary>
        private void LateUpdate()
        {
            lock (_drawingLock) FlushBatch();
        }

        private void OnValidate()
        {
            if (maxBackoffSeconds < initialBackoffSeconds) maxBackoffSeconds = initialBackoffSeconds;
            liveMs = ClampLiveMs(liveMs);
        }

        private static int ClampLiveMs(int ms)
        {
            return ms <= 0 ? 0 : Math.Min(Math.Max(ms, MinLiveMs), MaxLiveMs);
        }

        // ------------------------------------------------------------------ connection loop

        private void Restart()
        {
            if (!isActiveAndEnabled) return;
            Stop(true, true); // still enabled: Update pumps a pumped close
            StartConnection();
        }

        /// <summary>Makes the socket of every connection; set it before the component is enabled.
        /// Non-null runs the connection pumped: no threads, no timers, everything (connecting, the
        /// back-off, the reply timeout and keep-alive) driven from <c>Update</c> on the realtime clock.
        /// WebGL players use <c>WebGLWebSocketTransport</c> (the browser's WebSocket) when it is null;
        /// elsewhere null means the threaded <see cref="DoodleClient"/> over ClientWebSocket, and
        /// <c>() =&gt; new ClientWebSocketTransport()</c> runs a native player pumped too. Pumped, the
        /// send methods are for the main thread only (WebGL has no other).</summary>
        public Func<IDoodleTransport> TransportFactory { get; set; }

        private sealed class PumpedRun
        {
            public Settings Settings;
            public Func<IDoodleTransport> Factory;
            public Backoff Backoff;
            public int Generation;
            public double NextAttemptS;
            public DoodleClient Client;
            public Task<WelcomeMessage> Connecting;
            public TaskCompletionSource<DisconnectInfo> Ended;
            public bool Announced;
            public double UpSinceS;
        }

        private PumpedRun _pumped;
        private readonly List<DoodleClient> _closingPumped = new List<DoodleClient>(); // closed politely, pumped until they end

        private void StartConnection()
        {
            _generation++;
            var factory = TransportFactory;
#if UNITY_WEBGL && !UNITY_EDITOR
            if (factory == null) factory = () => new WebGLWebSocketTransport();
#endif
            if (factory != null)
            {
                var s = CurrentSettings();
                _pumped = new PumpedRun { Settings = s, Factory = factory, Backoff = new Backoff(s.Initial, s.Max), Generation = _generation, NextAttemptS = double.MinValue };
                return;
            }
            _run = new CancellationTokenSource();
            var settings = CurrentSettings();
            int generation = _generation;
            var ct = _run.Token;
            Task.Run(() => RunAsync(settings, generation, ct));
        }

        // The connection loop of RunAsync, one step per frame: connect, pump, notice the end, back off.
        private void PumpConnection(PumpedRun p, double now)
        {
            var s = p.Settings;
            int generation = p.Generation;
            if (p.Client == null)
            {
                if (now < p.NextAttemptS) return;
                DoodleClient created;
                try
                {
                    created = new DoodleClient(new Uri(s.Url), p.Factory())
                    {
                        ConnectTimeout = s.ConnectTimeout,
                        ReplyTimeout = s.ReplyTimeout,
                        KeepAliveInterval = s.KeepAlive,
                        Token = string.IsNullOrEmpty(s.Token) ? null : s.Token,
                    };
                }
                catch (Exception e) // a malformed URL: retrying will not help
                {
                    _pumped = null;
                    Post(generation, () => Fail(e, "bad server URL '" + s.Url + "'"));
                    return;
                }
                p.Client = created;
                p.Ended = new TaskCompletionSource<DisconnectInfo>();
                p.Announced = false;
                Wire(created, generation, p.Ended);
                Post(generation, () => SetState(ConnectionState.Connecting));
                p.Connecting = created.Connect(now);
            }
            var client = p.Client;
            client.Pump(now);
            if (!p.Announced && p.Connecting.Status == TaskStatus.RanToCompletion)
            {
                p.Announced = true;
                p.UpSinceS = now;
                var welcome = p.Connecting.Result;
                Post(generation, () => OnConnected(client, welcome, s.Url));
            }
            if (!p.Ended.Task.IsCompleted) return;
            var info = p.Ended.Task.Result;
            if (p.Announced)
            {
                Post(generation, () =>
                {
                    Interlocked.CompareExchange(ref _client, null, client);
                    Welcome = null;
                    if (logConnection) Debug.Log("doodlestream: disconnected (" + info + ")", this);
                    SetState(ConnectionState.Disconnected);
                    Raise(Disconnected, info);
                    if (info.Error != null) Fail(info.Error, "connection lost");
                });
            }
            else
            {
                var e = info.Error ?? new WebSocketException(info.Reason);
                Post(generation, () =>
                {
                    SetState(ConnectionState.Disconnected);
                    Fail(e, "cannot connect to " + s.Url);
                });
            }
            Interlocked.CompareExchange(ref _client, null, client);
            p.Client = null;
            if (p.Announced && now - p.UpSinceS >= s.StableAfter.TotalSeconds) p.Backoff.Reset();
            if (p.Announced && info.CloseStatus.HasValue && IsRefusal(info.CloseStatus.Value)) p.Backoff.Escalate(2);
            var delay = p.Backoff.Next();
            p.NextAttemptS = now + delay.TotalSeconds;
            if (logConnection)
                Post(generation, () => Debug.Log("doodlestream: reconnecting in " + delay.TotalSeconds.ToString("0.0") + " s", this));
        }

        private Settings CurrentSettings()
        {
            var settings = new Settings
            {
                Url = serverUrl,
                Token = token,
                ConnectTimeout = TimeSpan.FromSeconds(connectTimeoutSeconds),
                ReplyTimeout = TimeSpan.FromSeconds(replyTimeoutSeconds),
                KeepAlive = TimeSpan.FromSeconds(keepAliveSeconds),
                StableAfter = TimeSpan.FromSeconds(stableAfterSeconds),
                Initial = TimeSpan.FromSeconds(initialBackoffSeconds),
                Max = TimeSpan.FromSeconds(Math.Max(initialBackoffSeconds, maxBackoffSeconds)),
            };
            return settings;
        }

        /// <summary>Ends the connection; with <paramref name="flush"/> the frames already queued go out first (within 1 s).
        /// <paramref name="updatesFollow"/>: the component stays enabled, so Update can pump a pumped client's close.</summary>
        private void Stop(bool flush, bool updatesFollow = false)
        {
            if (flush) lock (_drawingLock) FlushBatch();
            _generation++; // what the old connection still queues is dropped
            var c = Interlocked.Exchange(ref _client, null);
            if (_pumped != null)
            {
                var connecting = _pumped.Client;
                _pumped = null;
                if (connecting != null && connecting != c) connecting.Dispose();
            }
            if (c != null && c.IsPumped)
            {
                // Pumped: the close completes in later Updates (a reconnect, a pause); a disabled
                // component gets none, so the transport is let go at once: it still sends what it
                // holds, then its close frame (the browser's WebSocket does; ClientWebSocketTransport too).
                if (flush) _ = c.CloseAsync(TimeSpan.FromSeconds(1));
                if (flush && updatesFollow) _closingPumped.Add(c);
                else c.Dispose();
            }
            if (!updatesFollow && _closingPumped.Count > 0)
            {
                foreach (var closing in _closingPumped) closing.Dispose(); // no Update will pump them any more
                _closingPumped.Clear();
            }
            else if (c != null)
            {
                // Closing first: the connection loop's cancellation then leaves the polite close alone.
                if (flush) _ = c.CloseAsync(TimeSpan.FromSeconds(1)); // sends what is queued, then closes; Dispose()s itself
                else c.Dispose();
            }
            if (_run != null)
            {
                _run.Cancel(); // not disposed: the connection loop may still be reading its token
                _run = null;
            }
            Welcome = null;
            SetState(ConnectionState.Disconnected);
        }

        /// <summary>Queues <paramref name="action"/> for the main thread, unless the connection it belongs to was stopped.</summary>
        private void Post(int generation, Action action)
        {
            _mainThread.Enqueue(() =>
            {
                if (generation == _generation) action();
            });
        }

        private sealed class Settings
        {
            public string Url, Token;
            public TimeSpan ConnectTimeout, ReplyTimeout, KeepAlive, StableAfter, Initial, Max;
        }

        private async Task RunAsync(Settings s, int generation, CancellationToken ct)
        {
            var backoff = new Backoff(s.Initial, s.Max);
            while (!ct.IsCancellationRequested)
            {
                DoodleClient client;
                try
                {
                    client = new DoodleClient(s.Url)
                    {
                        ConnectTimeout = s.ConnectTimeout,
                        ReplyTimeout = s.ReplyTimeout,
                        KeepAliveInterval = s.KeepAlive,
                        Token = string.IsNullOrEmpty(s.Token) ? null : s.Token,
                    };
                }
                catch (Exception e) // a malformed URL: retrying will not help
                {
                    Post(generation, () => Fail(e, "bad server URL '" + s.Url + "'"));
                    return;
                }
                var ended = new TaskCompletionSource<DisconnectInfo>();
                Wire(client, generation, ended);
                Post(generation, () => SetState(ConnectionState.Connecting));
                DisconnectInfo info = null;
                var upSince = DateTime.UtcNow;
                try
                {
                    using (ct.Register(() => { if (client.State != ConnectionState.Closing) client.Dispose(); }))
                    {
                        var welcome = await client.ConnectAsync(ct).ConfigureAwait(false);
                        upSince = DateTime.UtcNow;
                        // Published on the main thread, after the replay: what the game sends from now on
                        // follows the replayed drawing on the new session.
                        Post(generation, () => OnConnected(client, welcome, s.Url));
                        info = await ended.Task.ConfigureAwait(false);
                        var endInfo = info;
                        Post(generation, () =>
                        {
                            Interlocked.CompareExchange(ref _client, null, client);
                            Welcome = null;
                            if (logConnection) Debug.Log("doodlestream: disconnected (" + endInfo + ")", this);
                            SetState(ConnectionState.Disconnected);
                            Raise(Disconnected, endInfo);
                            if (endInfo.Error != null) Fail(endInfo.Error, "connection lost");
                        });
                    }
                }
                catch (Exception e)
                {
                    if (ct.IsCancellationRequested) return;
                    Post(generation, () =>
                    {
                        SetState(ConnectionState.Disconnected);
                        Fail(e, "cannot connect to " + s.Url);
                    });
                }
                finally
                {
                    Interlocked.CompareExchange(ref _client, null, client);
                    client.Dispose();
                }
                if (ct.IsCancellationRequested) return;
                // A server that closes right after welcome must not be retried at the first delay forever.
                if (info != null && DateTime.UtcNow - upSince >= s.StableAfter) backoff.Reset();
                if (info != null && info.CloseStatus.HasValue && IsRefusal(info.CloseStatus.Value)) backoff.Escalate(2);
                var delay = backoff.Next();
                if (logConnection)
                    Post(generation, () => Debug.Log("doodlestream: reconnecting in " + delay.TotalSeconds.ToString("0.0") + " s", this));
                try
                {
                    await Task.Delay(delay, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        // Closes that retrying soon will not fix: policy (too many errors), a frame too big, server overloaded.
        private static bool IsRefusal(WebSocketCloseStatus status)
        {
            return status == WebSocketCloseStatus.PolicyViolation || status == WebSocketCloseStatus.MessageTooBig || (int)status == 1013;
        }

        // Main thread: settings and the drawing go to the new session first, then the client is published.
        private void OnConnected(DoodleClient client, WelcomeMessage welcome, string url)
        {
            if (!client.IsConnected) return; // ended before this frame; its Disconnected follows
            lock (_drawingLock)
            {
                try
                {
                    client.Hello(liveMs);
                    _resumeSeq = null;
                    bool hasDrawing = _finished.Count > 0 || _current.Count > 0;
                    if (replayDrawingOnReconnect && hasDrawing && _drawingKey != null && welcome.HasFeature("resume"))
                        _resumeSeq = client.Resume(_drawingKey);
                    if (_words != null) client.SetWords(_words);
                    if (_topK.HasValue) client.SetTopK(_topK.Value);
                    if (_target != null) client.SetTarget(_target, _targetThreshold);
                    if (replayDrawingOnReconnect)
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
                }
                catch (Exception e) // the connection ended meanwhile, or a kept setting no longer fits its limits
                {
                    Debug.LogWarning("doodlestream: could not restore the session: " + e.Message, this);
                }
                Volatile.Write(ref _client, client);
            }
            Welcome = welcome;
            if (logConnection) Debug.Log("doodlestream: connected to " + url + " (model " + welcome.Model + ")", this);
            SetState(ConnectionState.Connected);
            Raise(Connected, welcome);
        }

        private void Wire(DoodleClient client, int generation, TaskCompletionSource<DisconnectInfo> ended)
        {
            client.GuessesReceived += m => Post(generation, () =>
            {
                if (!m.Live) LastGuesses = m;
                if (m.Drawing != null) _drawingKey = m.Drawing;
                Raise(GuessesReceived, m);
                InvokeSafely(onGuesses, m);
                if (m.TopWord != null) InvokeSafely(onTopGuess, m.TopWord);
            });
            client.Recognized += m => Post(generation, () =>
            {
                // Once per drawing, a reconnect's replay included (resumed or not).
                string once = _drawingEpoch + "\n" + m.Word;
                if (once == _recognizedIn) return;
                _recognizedIn = once;
                Raise(Recognized, m);
                InvokeSafely(onRecognized, m.Word);
            });
            client.ErrorReceived += m => Post(generation, () =>
            {
                if (m.Code == "unknown_drawing" && m.Seq.HasValue && m.Seq == _resumeSeq)
                {
                    // The server forgot the drawing (expired, restarted): the replay makes it a new one.
                    if (logConnection) Debug.Log("doodlestream: the drawing could not be resumed; it is replayed as a new one", this);
                    return;
                }
                Raise(ErrorReceived, m);
                InvokeSafely(onError, m.ToString());
            });
            client.Cleared += m => Post(generation, () =>
            {
                LastGuesses = null;
                if (m.Drawing != null) _drawingKey = m.Drawing;
                Raise(Cleared, m);
            });
            client.Saved += m => Post(generation, () => Raise(Saved, m));
            client.SpriteReceived += m => Post(generation, () =>
            {
                Raise(SpriteReceived, m);
                InvokeSafely(onSprite, m);
            });
            client.Taught += m => Post(generation, () => Raise(Taught, m));
            client.Forgotten += m => Post(generation, () => Raise(Forgotten, m));
            client.MessageReceived += m =>
            {
                if (!(m is WelcomeMessage)) Post(generation, () => Raise(MessageReceived, m)); // welcome goes out as Connected
            };
            client.Faulted += e => Post(generation, () => Debug.LogWarning("doodlestream: " + e.Message, this));
            client.Disconnected += info => ended.TrySetResult(info);
        }

        private void Fail(Exception e, string what)
        {
            if (logConnection) Debug.LogWarning("doodlestream: " + what + ": " + e.Message, this);
            Raise(ConnectionFailed, e);
            InvokeSafely(onError, what + ": " + e.Message);
        }

        private void SetState(ConnectionState s)
        {
            if (s == _state) return;
            _state = s;
            Raise(ConnectionStateChanged, s);
            InvokeSafely(onConnectionStateChanged, s);
        }

        private Action<Exception> _logException; // made once

        // Each C# handler on its own: one that throws is logged and the others still run.
        private void Raise<T>(Action<T> handler, T arg)
        {
            Handlers.InvokeEach(handler, arg, _logException ?? (_logException = e => Debug.LogException(e, this)));
        }

        // A UnityEvent that throws (a listener wired in the Inspector) is logged; the events after it still run.
        private void InvokeSafely<T>(UnityEvent<T> e, T arg)
        {
            try
            {
                e.Invoke(arg);
            }
            catch (Exception ex)
            {
                Debug.LogException(ex, this);
            }
        }
    }
}
