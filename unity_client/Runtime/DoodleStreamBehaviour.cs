// The Unity side of the doodlestream client: a thin MonoBehaviour that pumps a DoodleSession.

using System;
using System.Threading;
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

    /// <summary>A UnityEvent carrying a room (v1.2).</summary>
    [Serializable]
    public sealed class RoomEvent : UnityEvent<RoomMessage> { }

    /// <summary>A UnityEvent carrying a room's turn (v1.2).</summary>
    [Serializable]
    public sealed class TurnEvent : UnityEvent<TurnMessage> { }

    /// <summary>A UnityEvent carrying the drawer's strokes (v1.2).</summary>
    [Serializable]
    public sealed class DrawnEvent : UnityEvent<DrawnMessage> { }

    /// <summary>A UnityEvent carrying the AI's guesses in a room (v1.2).</summary>
    [Serializable]
    public sealed class AiEvent : UnityEvent<AiMessage> { }

    /// <summary>A UnityEvent carrying a player's guess (v1.2).</summary>
    [Serializable]
    public sealed class GuessedEvent : UnityEvent<GuessedMessage> { }

    /// <summary>A UnityEvent carrying a turn's end (v1.2).</summary>
    [Serializable]
    public sealed class TurnEndEvent : UnityEvent<TurnEndMessage> { }

    /// <summary>A UnityEvent carrying a game's end (v1.2).</summary>
    [Serializable]
    public sealed class GameEndEvent : UnityEvent<GameEndMessage> { }

    /// <summary>
    /// Connects a scene to a doodlestream server: holds the Inspector settings, pumps a
    /// <see cref="DoodleSession"/> (protocol, drawing, replay, back-off) from <c>Update</c>, sends the
    /// frame's points in <c>LateUpdate</c>, closes on pause and reconnects on resume, and raises
    /// UnityEvents. Everything the game calls is on <see cref="Session"/>; the stroke helpers here
    /// take Unity screen positions.
    /// </summary>
    /// <remarks>Main thread only, like every Unity API: the session is pumped from <c>Update</c> and
    /// raises every event there (WebGL players have no other thread). The stroke helpers read
    /// <c>Screen</c> and <c>Time</c> and throw <see cref="InvalidOperationException"/> off the main thread.</remarks>
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
        [Tooltip("Longest wait for the answer to any request; past it the connection is presumed dead and replaced. 0 = never.")]
        [Min(0f)]
        [SerializeField] private float replyTimeoutSeconds = 10f;
        [Tooltip("While nothing is sent for this long, a keep-alive hello checks that the server still answers. 0 = never.")]
        [Min(0f)]
        [SerializeField] private float keepAliveSeconds = 5f;
        [Tooltip("Close the connection when the app is paused (sent to the background) and reconnect on resume.")]
        [SerializeField] private bool closeWhenPaused = true;

        [Header("Reconnect")]
        [Tooltip("Shortest wait before reconnecting, in seconds (decorrelated jitter: later waits grow at random).")]
        [Min(0.05f)]
        [SerializeField] private float initialBackoffSeconds = 0.5f;
        [Tooltip("Longest wait between reconnect attempts, in seconds.")]
        [Min(0.05f)]
        [SerializeField] private float maxBackoffSeconds = 30f;
        [Tooltip("A connection counts as good, and the back-off starts again, once it stayed up this long (s).")]
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

        [Header("Room events (v1.2; call the rooms through Session)")]
        [SerializeField] private RoomEvent onRoom = new RoomEvent();
        [SerializeField] private TurnEvent onTurn = new TurnEvent();
        [SerializeField] private DrawnEvent onDrawn = new DrawnEvent();
        [SerializeField] private AiEvent onAiGuesses = new AiEvent();
        [SerializeField] private GuessedEvent onGuessed = new GuessedEvent();
        [SerializeField] private TurnEndEvent onTurnEnd = new TurnEndEvent();
        [SerializeField] private GameEndEvent onGameEnd = new GameEndEvent();
        [Tooltip("The session is in no room any more: it left, its seat was rejoined elsewhere, or the room ended (the room's code).")]
        [SerializeField] private TextEvent onRoomClosed = new TextEvent();

        private DoodleSession _session;
        private int _mainThread = -1;
        private bool _closedForPause;

        /// <summary>Makes the socket of every connection; set it before the component is enabled. Null:
        /// the browser's WebSocket in WebGL players, <see cref="ClientWebSocketTransport"/> elsewhere.</summary>
        public Func<IDoodleTransport> TransportFactory { get; set; }

        /// <summary>The session this component pumps: sending, the game API, its events (all raised on the main thread).</summary>
        public DoodleSession Session
        {
            get
            {
                if (_session == null) Create();
                return _session;
            }
        }

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

        /// <summary>The server's token; setting it while enabled reconnects.</summary>
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

        /// <summary>Live-guess interval in ms (0 = off), clamped to 50..5000 as the Inspector does; sent at once when connected.</summary>
        public int LiveMs
        {
            get { return liveMs; }
            set
            {
                liveMs = ClampLiveMs(value);
                Session.LiveMs = liveMs;
            }
        }

        /// <summary>The connection's state.</summary>
        public ConnectionState State { get { return Session.State; } }

        // ------------------------------------------------------------------ strokes in screen pixels (main thread)

        /// <summary>Starts a stroke at <paramref name="screen"/> (Unity screen pixels, y up: <c>Input.mousePosition</c>
        /// or the Input System's pointer position). A frame's points go out as one message in <c>LateUpdate</c>.</summary>
        public void BeginStroke(Vector2 screen)
        {
            CheckMainThread();
            Session.BeginStroke(screen.x, Screen.height - screen.y, Time.realtimeSinceStartupAsDouble);
        }

        /// <summary>Adds a point in screen pixels (y up) to the stroke begun with <see cref="BeginStroke"/>.</summary>
        public void AddPoint(Vector2 screen)
        {
            CheckMainThread();
            Session.AddPoint(screen.x, Screen.height - screen.y, Time.realtimeSinceStartupAsDouble);
        }

        /// <summary>Ends the stroke (its last points are sent first); guesses follow.</summary>
        public long? EndStroke()
        {
            CheckMainThread();
            return Session.EndStroke();
        }

        private void CheckMainThread()
        {
            if (_mainThread != -1 && Thread.CurrentThread.ManagedThreadId != _mainThread)
                throw new InvalidOperationException("DoodleStreamBehaviour is for the main thread only (it reads Screen and Time)");
        }

        // ------------------------------------------------------------------ Unity messages

        private void Awake()
        {
            _mainThread = Thread.CurrentThread.ManagedThreadId;
            if (keepAcrossScenes) DontDestroyOnLoad(transform.root.gameObject);
        }

        private void OnEnable()
        {
            if (_mainThread == -1) _mainThread = Thread.CurrentThread.ManagedThreadId;
            StartSession();
        }

        private void OnDisable()
        {
            _closedForPause = false;
            Session.Stop(true);
            Session.LetGo(); // no Update will pump the close: the transports finish it in the background
        }

        private void OnDestroy()
        {
            if (_session != null) _session.Dispose();
        }

        // A phone app sent to the background loses its socket silently: close it now, reconnect on return.
        private void OnApplicationPause(bool paused)
        {
            if (!closeWhenPaused) return;
            if (paused && Session.IsRunning)
            {
                Session.Stop(true); // still enabled: Update pumps the close until the server answered
                _closedForPause = true;
            }
            else if (!paused && _closedForPause)
            {
                _closedForPause = false;
                if (isActiveAndEnabled) StartSession();
            }
        }

        private void Update()
        {
            Session.Pump(Time.realtimeSinceStartupAsDouble);
        }

        // The points added this frame go out as one message.
        private void LateUpdate()
        {
            Session.FlushPoints();
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

        // ------------------------------------------------------------------ the session

        private void Restart()
        {
            if (!isActiveAndEnabled) return;
            Session.Stop(true); // still enabled: Update pumps the close
            StartSession();
        }

        private void StartSession()
        {
            var s = Session;
            s.ServerUrl = serverUrl;
            s.Token = token;
            s.LiveMs = ClampLiveMs(liveMs);
            s.ConnectTimeout = TimeSpan.FromSeconds(connectTimeoutSeconds);
            s.ReplyTimeout = TimeSpan.FromSeconds(replyTimeoutSeconds);
            s.KeepAliveInterval = TimeSpan.FromSeconds(keepAliveSeconds);
            s.InitialBackoff = TimeSpan.FromSeconds(initialBackoffSeconds);
            s.MaxBackoff = TimeSpan.FromSeconds(Math.Max(initialBackoffSeconds, maxBackoffSeconds));
            s.StableAfter = TimeSpan.FromSeconds(stableAfterSeconds);
            s.ReplayDrawingOnReconnect = replayDrawingOnReconnect;
            s.Start(Time.realtimeSinceStartupAsDouble);
        }

        private void Create()
        {
            _session = new DoodleSession(MakeTransport);
            _session.GuessesReceived += m =>
            {
                InvokeSafely(onGuesses, m);
                if (m.TopWord != null) InvokeSafely(onTopGuess, m.TopWord);
            };
            _session.Recognized += m => InvokeSafely(onRecognized, m.Word);
            _session.ErrorReceived += m => InvokeSafely(onError, m.ToString());
            _session.ConnectionFailed += e => InvokeSafely(onError, e.Message);
            _session.SpriteReceived += m => InvokeSafely(onSprite, m);
            _session.ConnectionStateChanged += s => InvokeSafely(onConnectionStateChanged, s);
            _session.RoomReceived += m => InvokeSafely(onRoom, m);
            _session.TurnStarted += m => InvokeSafely(onTurn, m);
            _session.Drawn += m => InvokeSafely(onDrawn, m);
            _session.AiGuessed += m => InvokeSafely(onAiGuesses, m);
            _session.Guessed += m => InvokeSafely(onGuessed, m);
            _session.TurnEnded += m => InvokeSafely(onTurnEnd, m);
            _session.GameEnded += m => InvokeSafely(onGameEnd, m);
            _session.RoomLeft += m => InvokeSafely(onRoomClosed, m.Code);
            _session.RoomEnded += m => InvokeSafely(onRoomClosed, m.Code);
            _session.Log += line => { if (logConnection) Debug.Log("doodlestream: " + line, this); };
            _session.Faulted += e => Debug.LogException(e, this);
        }

        private IDoodleTransport MakeTransport()
        {
            var factory = TransportFactory;
            if (factory != null) return factory();
#if UNITY_WEBGL && !UNITY_EDITOR
            return new WebGLWebSocketTransport();
#else
            return new ClientWebSocketTransport();
#endif
        }

        // A UnityEvent listener that throws (wired in the Inspector) is logged; the events after it still run.
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
