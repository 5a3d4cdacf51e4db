// The Unity side of the doodlestream client: one MonoBehaviour that owns the connection.

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
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
    /// exponential back-off, and raises every event on Unity's main thread.
    /// </summary>
    /// <remarks>
    /// <para>The socket lives on thread-pool threads (<see cref="DoodleClient"/>). Everything it
    /// reports is put on a <see cref="ConcurrentQueue{T}"/> and raised from <see cref="Update"/>, in
    /// arrival order, so handlers may touch GameObjects. Events that arrive while the component is
    /// disabled are dropped (the connection is closed then anyway).</para>
    /// <para>The send methods may be called from any thread; they return the message's <c>seq</c>, or
    /// null when there is no connection (they never throw for that).</para>
    /// <para>Every connection is a new server session with an empty drawing: after a reconnect,
    /// resend what should survive (see the DrawWithMouse sample, which resends its strokes on
    /// <see cref="Connected"/>).</para>
    /// </remarks>
    [DisallowMultipleComponent]
    [AddComponentMenu("Doodlestream/Doodle Stream")]
    public sealed class DoodleStreamBehaviour : MonoBehaviour
    {
        [Header("Server")]
        [Tooltip("WebSocket URL of the doodlestream server (ws:// or wss://), ending in /ws.")]
        [SerializeField] private string serverUrl = "ws://127.0.0.1:8765/ws";

        [Tooltip("Live guesses every this many milliseconds while a stroke is drawn (0 = only on pen-up; else 50..5000).")]
        [Range(0, 5000)]
        [SerializeField] private int liveMs = 250;

        [Tooltip("Longest wait for the socket to open and the server's welcome, in seconds.")]
        [Min(1f)]
        [SerializeField] private float connectTimeoutSeconds = 10f;

        [Header("Reconnect")]
        [Tooltip("First wait before reconnecting, in seconds; it doubles after every failed attempt.")]
        [Min(0.05f)]
        [SerializeField] private float initialBackoffSeconds = 0.5f;

        [Tooltip("Longest wait between reconnect attempts, in seconds.")]
        [Min(0.05f)]
        [SerializeField] private float maxBackoffSeconds = 30f;

        [Tooltip("Log connects, disconnects and retries to the Console.")]
        [SerializeField] private bool logConnection = true;

        [Header("Events (raised on the main thread)")]
        [SerializeField] private GuessesEvent onGuesses = new GuessesEvent();
        [Tooltip("The best guess of every reply (live ones included).")]
        [SerializeField] private TextEvent onTopGuess = new TextEvent();
        [Tooltip("Server errors and connection failures, as text.")]
        [SerializeField] private TextEvent onError = new TextEvent();
        [SerializeField] private SpriteEvent onSprite = new SpriteEvent();
        [SerializeField] private ConnectionStateEvent onConnectionStateChanged = new ConnectionStateEvent();

        private readonly ConcurrentQueue<Action> _mainThread = new ConcurrentQueue<Action>();
        private CancellationTokenSource _run;
        private DoodleClient _client;
        private int _generation;
        private ConnectionState _state = ConnectionState.Disconnected;

        /// <summary>Raised for every <c>guesses</c> (after pen-up, stroke, undo; live ones have <see cref="GuessesMessage.Live"/>).</summary>
        public event Action<GuessesMessage> GuessesReceived;
        /// <summary>Raised for every <c>error</c> the server sends (the session stays open).</summary>
        public event Action<ErrorMessage> ErrorReceived;
        /// <summary>Raised when a connection attempt fails or a connection breaks; a retry follows.</summary>
        public event Action<Exception> ConnectionFailed;
        /// <summary>Raised when <see cref="State"/> changes.</summary>
        public event Action<ConnectionState> ConnectionStateChanged;
        /// <summary>Raised when a connection is ready (after every reconnect too), with the server's welcome.</summary>
        public event Action<WelcomeMessage> Connected;
        /// <summary>Raised when a connection ends, with why.</summary>
        public event Action<DisconnectInfo> Disconnected;
        /// <summary>Raised for the answer to <see cref="Clear"/>.</summary>
        public event Action<ClearedMessage> Cleared;
        /// <summary>Raised for the answer to <see cref="Submit"/>: the stored drawing's id.</summary>
        public event Action<SavedMessage> Saved;
        /// <summary>Raised for the answer to <see cref="RequestSprite"/>: a PNG.</summary>
        public event Action<SpriteMessage> SpriteReceived;
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
                if (isActiveAndEnabled)
                {
                    Stop();
                    StartConnection();
                }
            }
        }

        /// <summary>Live-guess interval asked for on every connection, in ms (0 = off). Setting it while connected sends <c>hello</c>.</summary>
        public int LiveMs
        {
            get { return liveMs; }
            set
            {
                liveMs = value;
                var c = _client;
                if (c != null && c.IsConnected) Try(x => x.Hello(liveMs));
            }
        }

        /// <summary>The connection's state as last reported on the main thread.</summary>
        public ConnectionState State { get { return _state; } }

        /// <summary>True while connected (as last reported on the main thread).</summary>
        public bool IsConnected { get { return _state == ConnectionState.Connected; } }

        /// <summary>The welcome of the current connection, or null.</summary>
        public WelcomeMessage Welcome { get; private set; }

        /// <summary>The latest non-live guesses, or null.</summary>
        public GuessesMessage LastGuesses { get; private set; }

        // ------------------------------------------------------------------ sending (any thread)

        /// <summary>Appends points to the current stroke (y grows downwards); see <see cref="DoodleClient.SendPoints"/>.</summary>
        public long? SendPoints(IList<float> x, IList<float> y, IList<long> t = null) { return Try(c => c.SendPoints(x, y, t)); }

        /// <summary>Appends one point to the current stroke (y grows downwards; <paramref name="t"/> in ms since the drawing began).</summary>
        public long? SendPoint(float x, float y, long? t = null) { return Try(c => c.SendPoint(x, y, t)); }

        /// <summary>Ends the current stroke; guesses follow.</summary>
        public long? PenUp() { return Try(c => c.PenUp()); }

        /// <summary>Sends a whole stroke; guesses follow.</summary>
        public long? SendStroke(IList<float> x, IList<float> y, IList<long> t = null) { return Try(c => c.SendStroke(x, y, t)); }

        /// <summary>Drops the stroke in progress, else the last stroke; guesses for what is left follow.</summary>
        public long? Undo() { return Try(c => c.Undo()); }

        /// <summary>Starts a new drawing; <see cref="Cleared"/> follows.</summary>
        public long? Clear() { return Try(c => c.Clear()); }

        /// <summary>Stores the current drawing as <paramref name="word"/>; <see cref="Saved"/> follows.</summary>
        public long? Submit(string word) { return Try(c => c.Submit(word)); }

        /// <summary>Asks for a PNG of a stored drawing (<paramref name="id"/>) or of the current one; <see cref="SpriteReceived"/> follows.</summary>
        public long? RequestSprite(long? id = null, int? size = null) { return Try(c => c.RequestSprite(id, size)); }

        /// <summary>Asks the server to classify a PNG/JPEG of a canvas; guesses follow.</summary>
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

        // ------------------------------------------------------------------ Unity messages

        private void OnEnable()
        {
#if UNITY_WEBGL && !UNITY_EDITOR
            // Browsers give WebGL builds neither threads nor ClientWebSocket; see unity_client/README.md.
            Debug.LogError("doodlestream: ClientWebSocket does not work in WebGL builds; see the WebGL section of unity_client/README.md", this);
            onError.Invoke("WebGL builds are not supported by DoodleClient");
#else
            StartConnection();
#endif
        }

        private void OnDisable()
        {
            Stop();
        }

        /// <summary>Raises the events queued by the socket threads since the last frame.</summary>
        private void Update()
        {
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

        private void OnValidate()
        {
            if (maxBackoffSeconds < initialBackoffSeconds) maxBackoffSeconds = initialBackoffSeconds;
            if (liveMs > 0 && liveMs < 50) liveMs = 50;
        }

        // ------------------------------------------------------------------ connection loop

        private void StartConnection()
        {
            _generation++;
            _run = new CancellationTokenSource();
            string url = serverUrl;
            int generation = _generation;
            var token = _run.Token;
            Task.Run(() => RunAsync(url, generation, token));
        }

        private void Stop()
        {
            _generation++; // what the old connection still queues is dropped
            if (_run != null)
            {
                _run.Cancel(); // not disposed: the connection loop may still be reading its token
                _run = null;
            }
            var c = Interlocked.Exchange(ref _client, null);
            if (c != null) c.Dispose();
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

        private async Task RunAsync(string url, int generation, CancellationToken ct)
        {
            var backoff = new Backoff(TimeSpan.FromSeconds(initialBackoffSeconds), TimeSpan.FromSeconds(Math.Max(initialBackoffSeconds, maxBackoffSeconds)));
            while (!ct.IsCancellationRequested)
            {
                DoodleClient client;
                try
                {
                    client = new DoodleClient(url) { ConnectTimeout = TimeSpan.FromSeconds(connectTimeoutSeconds) };
                }
                catch (Exception e) // a malformed URL: retrying will not help
                {
                    Post(generation, () => Fail(e, "bad server URL '" + url + "'"));
                    return;
                }
                var ended = new TaskCompletionSource<DisconnectInfo>();
                Wire(client, generation, ended);
                Post(generation, () => SetState(ConnectionState.Connecting));
                try
                {
                    using (ct.Register(client.Dispose))
                    {
                        var welcome = await client.ConnectAsync(ct).ConfigureAwait(false);
                        backoff.Reset();
                        Volatile.Write(ref _client, client);
                        int live = liveMs;
                        if (live > 0) client.Hello(live);
                        Post(generation, () =>
                        {
                            Welcome = welcome;
                            if (logConnection) Debug.Log("doodlestream: connected to " + url + " (model " + welcome.Model + ")", this);
                            SetState(ConnectionState.Connected);
                            Raise(Connected, welcome);
                        });
                        var info = await ended.Task.ConfigureAwait(false);
                        Post(generation, () =>
                        {
                            Welcome = null;
                            if (logConnection) Debug.Log("doodlestream: disconnected (" + info + ")", this);
                            SetState(ConnectionState.Disconnected);
                            Raise(Disconnected, info);
                            if (info.Error != null) Fail(info.Error, "connection lost");
                        });
                    }
                }
                catch (Exception e)
                {
                    if (ct.IsCancellationRequested) return;
                    Post(generation, () =>
                    {
                        SetState(ConnectionState.Disconnected);
                        Fail(e, "cannot connect to " + url);
                    });
                }
                finally
                {
                    Interlocked.CompareExchange(ref _client, null, client);
                    client.Dispose();
                }
                if (ct.IsCancellationRequested) return;
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

        private void Wire(DoodleClient client, int generation, TaskCompletionSource<DisconnectInfo> ended)
        {
            client.GuessesReceived += m => Post(generation, () =>
            {
                if (!m.Live) LastGuesses = m;
                Raise(GuessesReceived, m);
                onGuesses.Invoke(m);
                if (m.TopWord != null) onTopGuess.Invoke(m.TopWord);
            });
            client.ErrorReceived += m => Post(generation, () =>
            {
                Raise(ErrorReceived, m);
                onError.Invoke(m.ToString());
            });
            client.Cleared += m => Post(generation, () =>
            {
                LastGuesses = null;
                Raise(Cleared, m);
            });
            client.Saved += m => Post(generation, () => Raise(Saved, m));
            client.SpriteReceived += m => Post(generation, () =>
            {
                Raise(SpriteReceived, m);
                onSprite.Invoke(m);
            });
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
            onError.Invoke(what + ": " + e.Message);
        }

        private void SetState(ConnectionState s)
        {
            if (s == _state) return;
            _state = s;
            Raise(ConnectionStateChanged, s);
            onConnectionStateChanged.Invoke(s);
        }

        private void Raise<T>(Action<T> handler, T arg)
        {
            if (handler == null) return;
            try
            {
                handler(arg);
            }
            catch (Exception e)
            {
                Debug.LogException(e, this);
            }
        }
    }
}
