// One connection of doodlestream protocol v1.1, pumped (no threads, no timers of its own) over an
// IDoodleTransport: the one engine under DoodleSession, DoodleStreamBehaviour and, through a pump
// thread (ConnectAsync), bots and tools. No UnityEngine dependency: it runs in Unity (2021 LTS and
// later, WebGL included) and in any .NET (Framework 4.x, Mono, .NET Standard 2.x) program.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;
using Doodlestream.MsgPack;

namespace Doodlestream
{
    /// <summary>Where a <see cref="DoodleClient"/> is in its life.</summary>
    public enum ConnectionState
    {
        /// <summary>Not connected yet, or the connection has ended.</summary>
        Disconnected,
        /// <summary>Opening the socket and waiting for <c>welcome</c>.</summary>
        Connecting,
        /// <summary><c>welcome</c> arrived; messages can be sent.</summary>
        Connected,
        /// <summary>The client asked to close.</summary>
        Closing,
    }

    /// <summary>Why a connection ended (the argument of <see cref="DoodleClient.Disconnected"/>).</summary>
    public sealed class DisconnectInfo
    {
        /// <summary>The WebSocket close code the server sent (1001 idle, 1008 too many errors...), if it sent one.</summary>
        public WebSocketCloseStatus? CloseStatus { get; private set; }
        /// <summary>The close reason the server sent, or a description of the failure.</summary>
        public string Reason { get; private set; }
        /// <summary>The exception that ended the connection, when it was a failure.</summary>
        public Exception Error { get; private set; }
        /// <summary>True when the client itself closed (<see cref="DoodleClient.CloseAsync"/> or <see cref="DoodleClient.Dispose"/>).</summary>
        public bool ByClient { get; private set; }

        /// <summary>Creates the record.</summary>
        public DisconnectInfo(WebSocketCloseStatus? status, string reason, Exception error, bool byClient)
        {
            CloseStatus = status;
            Reason = reason ?? "";
            Error = error;
            ByClient = byClient;
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return (ByClient ? "closed by client" : "closed") + (CloseStatus.HasValue ? " " + (int)CloseStatus.Value : "")
                + (Reason.Length > 0 ? ": " + Reason : "");
        }
    }

    /// <summary>The connection ended (or was never up) before the reply to a request arrived.</summary>
    public sealed class DoodleDisconnectedException : Exception
    {
        /// <summary>Why the connection ended.</summary>
        public DisconnectInfo Info { get; private set; }

        /// <summary>Creates the exception from the connection's end.</summary>
        public DoodleDisconnectedException(DisconnectInfo info)
            : base("the connection ended before the reply arrived (" + info + ")", info.Error)
        {
            Info = info;
        }
    }

    /// <summary>The server answered a request with <c>error</c> (the awaitable calls throw this).</summary>
    public sealed class DoodleServerException : Exception
    {
        /// <summary>The server's error (its <see cref="ErrorMessage.Code"/> says why).</summary>
        public ErrorMessage Error { get; private set; }

        /// <summary>Creates the exception from the server's error.</summary>
        public DoodleServerException(ErrorMessage error) : base(error.ToString())
        {
            Error = error;
        }
    }

    /// <summary>
    /// One connection to a doodlestream server: sends drawing messages as msgpack binary frames
    /// and raises a typed event for every message the server sends.
    /// </summary>
    /// <remarks>
    /// <para>One engine: the client never starts a thread or a timer. Its owner calls
    /// <see cref="Connect"/> and then <see cref="Pump"/> every frame with its own clock (a MonoBehaviour's
    /// Update; <see cref="DoodleSession"/> does); every event is raised inside <see cref="Pump"/>, on the
    /// pumping thread, and the reply timeout, keep-alive and connect timeout are measured on that clock.
    /// Outside a game loop (bots, tools), <see cref="ConnectAsync"/> connects and starts a pump thread
    /// (<see cref="DoodlePumpThread"/>) that pumps every few milliseconds; events are then raised on that
    /// thread. Every public member takes the client's lock, so the <c>Send*</c> methods may be called
    /// from any thread; they never block on the network (the transport queues the frame).</para>
    /// <para>The transport is <see cref="ClientWebSocketTransport"/> unless one is given (WebGL players:
    /// <c>WebGLWebSocketTransport</c>).</para>
    /// <para>A client connects once. To reconnect, dispose it and create a new one (the server
    /// starts a new session, with an empty drawing, for every connection); <see cref="DoodleSession"/> does.</para>
    /// <para>Every message gets a fresh <c>seq</c>; the <c>Send*</c> methods return it, and the
    /// server echoes it in the reply (<see cref="ServerMessage.Seq"/>), errors included. The
    /// <c>*Async</c> methods wait for that reply instead (the events are raised for it too).</para>
    /// <para>Dead connections: every request that the server answers must be answered within
    /// <see cref="ReplyTimeout"/>, and while nothing else is sent a keep-alive <c>hello</c> goes out
    /// every <see cref="KeepAliveInterval"/>; a missing answer ends the connection with a
    /// <see cref="TimeoutException"/> (a Wi-Fi to LTE hand-over, a suspended phone), so that
    /// <see cref="Disconnected"/> is raised and a new connection can be made.</para>
    /// <para>Sends are checked against the limits of the server's <c>welcome</c> first: one the
    /// server would refuse with a closed connection (a frame over <c>max_frame_bytes</c>) or an
    /// error (an image over <c>max_image_bytes</c>, a stroke over <c>max_points_per_stroke</c>, a
    /// word over <c>max_word_chars</c>...) throws <see cref="ArgumentException"/> instead.</para>
    /// </remarks>
    public sealed partial class DoodleClient : IDisposable
    {
        /// <summary>Points per <c>points</c> message when the server's <c>welcome</c> does not say.</summary>
        public const int DefaultMaxPointsPerMessage = 2048;

        /// <summary>Default of <see cref="MaxMessageBytes"/>: 2 MiB, over any reply of the protocol (a
        /// 1024-pixel sprite PNG included) and far from what a hostile 16 MiB frame would decode into.</summary>
        public const int DefaultMaxMessageBytes = 2 * 1024 * 1024;

        private readonly object _gate = new object(); // every public member holds it: Pump and sends from other threads
        private readonly IDoodleTransport _transport;
        private readonly MsgPackWriter _writer = new MsgPackWriter(1024); // reused for every message
        private readonly Utf8Cache _strings = new Utf8Cache(); // words and drawing keys of guesses
        private readonly Dictionary<long, Pending> _pending = new Dictionary<long, Pending>();
        private double _nowS; // the owner's clock at the latest Connect/Pump
        private long _connectDueTicks, _closeDueTicks = long.MaxValue;
        private TaskCompletionSource<WelcomeMessage> _welcomed;
        private readonly TaskCompletionSource<bool> _endedTask = new TaskCompletionSource<bool>(); // completed in End
        private DoodlePumpThread _pumpThread; // ConnectAsync only
        private long _lastSendTicks;
        private int _liveMs;
        private string _drawing;
        private long _seq;
        private int _state = (int)ConnectionState.Disconnected;
        private int _ended;
        private int _started;

        /// <summary>Creates a client for <paramref name="url"/>, e.g. <c>ws://127.0.0.1:8765/ws</c>.</summary>
        public DoodleClient(string url) : this(new Uri(url)) { }

        /// <summary>Creates a client for <paramref name="url"/> (scheme <c>ws</c> or <c>wss</c>) over a <see cref="ClientWebSocketTransport"/>.</summary>
        public DoodleClient(Uri url) : this(url, null) { }

        /// <summary>Creates a client for <paramref name="url"/> over <paramref name="transport"/>
        /// (null: a <see cref="ClientWebSocketTransport"/>); see <see cref="Pump"/>.</summary>
        public DoodleClient(Uri url, IDoodleTransport transport)
        {
            if (url == null) throw new ArgumentNullException("url");
            if (url.Scheme != "ws" && url.Scheme != "wss")
                throw new ArgumentException("the server URL must start with ws:// or wss://, got " + url, "url");
            _transport = transport ?? new ClientWebSocketTransport();
            Url = url;
            ConnectTimeout = TimeSpan.FromSeconds(10);
            ReplyTimeout = TimeSpan.FromSeconds(15);
            KeepAliveInterval = TimeSpan.FromSeconds(10);
            MaxMessageBytes = DefaultMaxMessageBytes;
            MaxQueuedBytes = 8 * 1024 * 1024;
        }

        /// <summary>A request waiting for its reply: when it is due, and what to do with the reply.</summary>
        private sealed class Pending
        {
            public long DueTicks;
            public bool KeepAlive;
            public Action<ServerMessage> OnReply;
            public Action<Exception> OnFail;
        }

        /// <summary>The server's WebSocket URL.</summary>
        public Uri Url { get; private set; }

        /// <summary>Longest wait for the socket to open and <c>welcome</c> to arrive (default 10 s).</summary>
        public TimeSpan ConnectTimeout { get; set; }

        /// <summary>Longest wait for the answer to any request (pen_up, stroke, undo, clear, hello, submit,
        /// sprite, image, teach, forget), default 15 s; past it the connection is presumed dead and ends
        /// with a <see cref="TimeoutException"/>. <see cref="TimeSpan.Zero"/> turns the check off.</summary>
        public TimeSpan ReplyTimeout { get; set; }

        /// <summary>After this long without sending anything (default 10 s), a keep-alive <c>hello</c>
        /// (same <c>live_ms</c>, nothing else changed) goes out; its answer is due within
        /// <see cref="ReplyTimeout"/> and is not raised as an event. <see cref="TimeSpan.Zero"/> turns
        /// it off. It also keeps the server from closing an idle session (1001).</summary>
        public TimeSpan KeepAliveInterval { get; set; }

        /// <summary>Token sent as <c>Authorization: Bearer</c> when connecting (for a server run with
        /// <c>--token</c>); <c>?token=</c> in the URL works too. Set before <see cref="ConnectAsync"/>.</summary>
        public string Token { get; set; }

        /// <summary>Largest server message accepted, in bytes (default <see cref="DefaultMaxMessageBytes"/>); a larger one ends the connection.</summary>
        public int MaxMessageBytes { get; set; }

        /// <summary>The key of the drawing in progress (from the latest <c>guesses</c>, <c>cleared</c>
        /// or resuming <c>hello</c>); pass it to <see cref="Resume"/> on a new connection to continue it.</summary>
        public string Drawing { get { lock (_gate) return _drawing; } }

        /// <summary>True when the server's <c>welcome</c> lists <paramref name="feature"/> (v1.1:
        /// <c>words</c>, <c>target</c>, <c>teach</c>, <c>resume</c>, <c>submit</c>, <c>sprite</c>).</summary>
        public bool HasFeature(string feature)
        {
            var w = Welcome;
            return w != null && w.HasFeature(feature);
        }

        /// <summary>Bytes that may wait in the send queue (default 8 MiB); beyond that <c>Send*</c> throws.</summary>
        public long MaxQueuedBytes { get; set; }

        /// <summary>Where the connection is; readable from any thread.</summary>
        public ConnectionState State { get { return (ConnectionState)Volatile.Read(ref _state); } }

        /// <summary>True once <c>welcome</c> arrived and until the connection ends.</summary>
        public bool IsConnected { get { return State == ConnectionState.Connected; } }

        /// <summary>The server's <c>welcome</c>, once connected.</summary>
        public WelcomeMessage Welcome { get; private set; }

        /// <summary>Raised for the server's <c>welcome</c> (before <see cref="ConnectAsync"/> completes).</summary>
        public event Action<WelcomeMessage> Welcomed;
        /// <summary>Raised for every <c>guesses</c>: after pen_up/stroke/undo, and live ones (<see cref="GuessesMessage.Live"/>).</summary>
        public event Action<GuessesMessage> GuessesReceived;
        /// <summary>Raised for the answer to <see cref="Hello"/>.</summary>
        public event Action<HelloMessage> HelloReceived;
        /// <summary>Raised for the answer to <see cref="Clear"/>.</summary>
        public event Action<ClearedMessage> Cleared;
        /// <summary>Raised for every <c>error</c> the server sends (the session stays open).</summary>
        public event Action<ErrorMessage> ErrorReceived;
        /// <summary>Raised for the answer to <see cref="Submit"/>.</summary>
        public event Action<SavedMessage> Saved;
        /// <summary>Raised for the answer to <see cref="RequestSprite"/>.</summary>
        public event Action<SpriteMessage> SpriteReceived;
        /// <summary>Raised when the target word (<see cref="SetTarget"/>) is first recognized in a drawing.</summary>
        public event Action<RecognizedMessage> Recognized;
        /// <summary>Raised for the answer to <see cref="Teach"/>.</summary>
        public event Action<TaughtMessage> Taught;
        /// <summary>Raised for the answer to <see cref="Forget"/>.</summary>
        public event Action<ForgottenMessage> Forgotten;
        /// <summary>Raised for every server message, known types and unknown ones, after its typed event.</summary>
        public event Action<ServerMessage> MessageReceived;
        /// <summary>Raised for problems on this side that do not end the connection: an undecodable server frame, an event handler that threw.</summary>
        public event Action<Exception> Faulted;
        /// <summary>Raised once when the connection ends, whoever ended it.</summary>
        public event Action<DisconnectInfo> Disconnected;

        /// <summary>Starts opening the socket; <paramref name="nowSeconds"/> is the owner's
        /// clock (any origin, e.g. Unity's <c>Time.realtimeSinceStartupAsDouble</c>), the same one it
        /// passes to <see cref="Pump"/>. The task completes, inside a later <see cref="Pump"/>, with the
        /// server's <c>welcome</c>, or fails as <see cref="ConnectAsync"/> would.</summary>
        /// <exception cref="InvalidOperationException">It was already connected once.</exception>
        public Task<WelcomeMessage> Connect(double nowSeconds)
        {
            lock (_gate) return ConnectLocked(nowSeconds, TaskCreationOptions.None);
        }

        private Task<WelcomeMessage> ConnectLocked(double nowSeconds, TaskCreationOptions options)
        {
            if (Interlocked.Exchange(ref _started, 1) != 0)
                throw new InvalidOperationException("a DoodleClient connects once; create a new one to reconnect");
            _nowS = nowSeconds;
            _welcomed = new TaskCompletionSource<WelcomeMessage>(options);
            SetState(ConnectionState.Connecting);
            _connectDueTicks = NowTicks() + (long)(ConnectTimeout.TotalSeconds * Stopwatch.Frequency);
            try
            {
                _transport.Connect(Url, string.IsNullOrEmpty(Token) ? null : Token, MaxMessageBytes);
            }
            catch (Exception e)
            {
                End(null, e.Message, e, false);
            }
            return _welcomed.Task;
        }

        /// <summary>Handles what the transport received since the last call (raising the
        /// events, completing the awaitable calls) and checks the connect timeout, reply timeout and
        /// keep-alive against <paramref name="nowSeconds"/>. Call it every frame, from one thread.</summary>
        public void Pump(double nowSeconds)
        {
            lock (_gate) PumpLocked(nowSeconds);
        }

        private void PumpLocked(double nowSeconds)
        {
            _nowS = nowSeconds;
            TransportEvent e;
            while (Volatile.Read(ref _ended) == 0 && _transport.TryReceive(out e))
            {
                switch (e.Kind)
                {
                    case TransportEventKind.Message:
                        OnTransportMessage(e.Data, e.Count > 0 ? e.Count : e.Data.Length);
                        break;
                    case TransportEventKind.Error:
                        var error = new WebSocketException(e.Reason ?? "WebSocket error");
                        End(null, (State == ConnectionState.Connecting ? "cannot connect: " : "connection failed: ") + error.Message, error, false);
                        break;
                    case TransportEventKind.Closed:
                        var status = e.CloseCode > 0 && e.CloseCode != 1005 && e.CloseCode != 1006 ? (WebSocketCloseStatus?)e.CloseCode : null;
                        if (State == ConnectionState.Connecting)
                        {
                            var refused = new WebSocketException("the connection closed before welcome (" + e.CloseCode + (string.IsNullOrEmpty(e.Reason) ? "" : ": " + e.Reason) + ")");
                            End(status, refused.Message, refused, false);
                        }
                        else
                        {
                            End(status, e.Reason, null, State == ConnectionState.Closing);
                        }
                        break;
                }
            }
            if (Volatile.Read(ref _ended) != 0) return;
            long now = NowTicks();
            if (State == ConnectionState.Connecting && now > _connectDueTicks)
            {
                var t = new TimeoutException("no welcome from " + Url + " within " + ConnectTimeout.TotalSeconds + " s");
                End(null, t.Message, t, false);
            }
            else if (State == ConnectionState.Closing && now > _closeDueTicks)
            {
                Dispose();
            }
            else if (State == ConnectionState.Connected)
            {
                CheckTimers(now);
            }
        }

        private static readonly byte[] GuessesPrefix = { 0xa4, (byte)'t', (byte)'y', (byte)'p', (byte)'e', 0xa7, (byte)'g', (byte)'u', (byte)'e', (byte)'s', (byte)'s', (byte)'e', (byte)'s' };

        // guesses (the server writes "type" first) skip the map decoding: they come every few frames while drawing.
        private bool IsGuesses(byte[] data, int count)
        {
            if (count < 1 + GuessesPrefix.Length || (data[0] & 0xf0) != 0x80) return false;
            for (int i = 0; i < GuessesPrefix.Length; i++)
                if (data[1 + i] != GuessesPrefix[i]) return false;
            return true;
        }

        private void OnTransportMessage(byte[] data, int count)
        {
            ServerMessage msg;
            try
            {
                if (IsGuesses(data, count))
                {
                    msg = GuessesMessage.Decode(data, 0, count, _strings);
                }
                else
                {
                    var map = MsgPackCodec.Deserialize(data, 0, count) as IDictionary<string, object>;
                    if (map == null) throw new DoodleProtocolException("server message is not a map");
                    msg = ServerMessage.Parse(map);
                }
            }
            catch (FormatException e) // MsgPackException, DoodleProtocolException
            {
                if (State == ConnectionState.Connecting) End(null, e.Message, e, false);
                else Fault(e); // skip the frame
                return;
            }
            if (State != ConnectionState.Connecting)
            {
                Dispatch(msg);
                return;
            }
            var welcome = msg as WelcomeMessage;
            if (welcome == null)
            {
                var e = new DoodleProtocolException("expected 'welcome' first, got '" + msg.Type + "'");
                End(null, e.Message, e, false);
                return;
            }
            Welcome = welcome;
            _lastSendTicks = NowTicks();
            SetState(ConnectionState.Connected);
            Dispatch(welcome);
            _welcomed.TrySetResult(welcome);
        }

        private long NowTicks()
        {
            return (long)(_nowS * Stopwatch.Frequency);
        }

        /// <summary>For programs without a game loop (bots, tools): connects and starts a pump thread
        /// (<see cref="DoodlePumpThread"/>) that pumps this client every few milliseconds until it ends;
        /// events are raised on that thread and the awaitable calls' continuations on the thread pool.
        /// Completes with the server's <c>welcome</c>. Do not call <see cref="Pump"/> as well.</summary>
        /// <exception cref="InvalidOperationException">This client was already connected once.</exception>
        /// <exception cref="TimeoutException">No <c>welcome</c> within <see cref="ConnectTimeout"/>.</exception>
        /// <exception cref="System.Net.WebSockets.WebSocketException">The socket could not be opened.</exception>
        public Task<WelcomeMessage> ConnectAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            Task<WelcomeMessage> welcome;
            lock (_gate)
            {
                welcome = ConnectLocked(DoodlePumpThread.Now, TaskCreationOptions.RunContinuationsAsynchronously);
                _pumpThread = new DoodlePumpThread(Pump, () => State == ConnectionState.Disconnected);
            }
            if (cancellationToken.CanBeCanceled) cancellationToken.Register(() => { if (State == ConnectionState.Connecting) Dispose(); });
            return welcome;
        }

        // ------------------------------------------------------------------ sending

        /// <summary>Appends points to the current stroke (the first points after a pen-up start a new stroke).</summary>
        /// <param name="x">X coordinates (any unit; the server normalises the drawing).</param>
        /// <param name="y">Y coordinates, growing downwards as in Quick, Draw! (flip Unity's screen y).</param>
        /// <param name="t">Optional times in milliseconds since the drawing began (the server stamps them when absent).</param>
        /// <returns>The <c>seq</c> of the (last) message sent. More points than the server's
        /// <c>max_points_per_message</c> go out as several messages. No reply follows (live guesses may).</returns>
        public long SendPoints(IList<float> x, IList<float> y, IList<long> t = null)
        {
            lock (_gate)
            {
                CheckPoints(x, y, t);
                int per = MaxPointsPerMessage;
                long seq;
                int start = 0;
                do
                {
                    seq = Send(BuildPoints("points", x, y, t, start, Math.Min(per, x.Count - start), out seq), seq, false);
                    start += per;
                } while (start < x.Count);
                return seq;
            }
        }

        /// <summary>Appends one point to the current stroke; see <see cref="SendPoints"/>.</summary>
        public long SendPoint(float x, float y, long? t = null)
        {
            lock (_gate)
            {
                return SendPoints(new[] { x }, new[] { y }, t.HasValue ? new[] { t.Value } : null);
            }
        }

        /// <summary>Ends the current stroke; the server answers with <c>guesses</c>.</summary>
        public long PenUp()
        {
            lock (_gate)
            {
                long seq;
                return Send(Begin("pen_up", 0, out seq), seq, true);
            }
        }

        /// <summary>Ends the current stroke and waits for the server's <c>guesses</c>.</summary>
        /// <exception cref="DoodleServerException">The server answered with an error.</exception>
        /// <exception cref="DoodleDisconnectedException">The connection ended first (a missing reply included).</exception>
        public Task<GuessesMessage> PenUpAsync()
        {
            lock (_gate)
            {
                long seq;
                return Ask<GuessesMessage>(Begin("pen_up", 0, out seq), seq);
            }
        }

        /// <summary>Sends a whole stroke (points, then pen-up); the server answers with <c>guesses</c>.</summary>
        public long SendStroke(IList<float> x, IList<float> y, IList<long> t = null)
        {
            lock (_gate)
            {
                CheckStroke(x, y, t);
                if (x.Count <= MaxPointsPerMessage)
                {
                    long seq;
                    return Send(BuildPoints("stroke", x, y, t, 0, x.Count, out seq), seq, true);
                }
                SendPoints(x, y, t);
                return PenUp();
            }
        }

        /// <summary>Sends a whole stroke and waits for the server's <c>guesses</c>.</summary>
        public Task<GuessesMessage> StrokeAsync(IList<float> x, IList<float> y, IList<long> t = null)
        {
            lock (_gate)
            {
                CheckStroke(x, y, t);
                if (x.Count > MaxPointsPerMessage)
                {
                    SendPoints(x, y, t);
                    return PenUpAsync();
                }
                long seq;
                return Ask<GuessesMessage>(BuildPoints("stroke", x, y, t, 0, x.Count, out seq), seq);
            }
        }

        /// <summary>Drops the stroke in progress, else the last stroke; the server answers with <c>guesses</c> for what is left.</summary>
        public long Undo()
        {
            lock (_gate)
            {
                long seq;
                return Send(Begin("undo", 0, out seq), seq, true);
            }
        }

        /// <summary>Starts a new, empty drawing; the server answers with <c>cleared</c>.</summary>
        public long Clear()
        {
            lock (_gate)
            {
                long seq;
                return Send(Begin("clear", 0, out seq), seq, true);
            }
        }

        /// <summary>Opts in to live guesses every <paramref name="liveMs"/> ms while drawing (0 = off, else 50..5000).</summary>
        /// <param name="liveMs">Interval of live guesses in milliseconds, or 0 for none.</param>
        /// <param name="client">The kind of client, reported to the server.</param>
        public long Hello(int liveMs, string client = "unity")
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildHello(liveMs, client, null, null, out seq), seq, true);
            }
        }

        /// <summary>From now on ranks only <paramref name="words"/> (model words or custom words;
        /// null = every word again); feature <c>words</c>. The <c>hello</c> reply (or <c>unknown_word</c>) follows.</summary>
        public long SetWords(IList<string> words)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildWords(words, out seq), seq, true);
            }
        }

        /// <summary><see cref="SetWords"/>, waiting for the settings now in force.</summary>
        public Task<HelloMessage> SetWordsAsync(IList<string> words)
        {
            lock (_gate)
            {
                long seq;
                return Ask<HelloMessage>(BuildWords(words, out seq), seq);
            }
        }

        /// <summary>The word the player is drawing (null = none); feature <c>target</c>. Every
        /// <c>guesses</c> then carries <see cref="GuessesMessage.Target"/> (its score and rank), and
        /// <see cref="Recognized"/> is raised once per drawing when its score reaches
        /// <paramref name="threshold"/> (null: the model's calibrated default).</summary>
        public long SetTarget(string word, double? threshold = null)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildTarget(word, threshold, out seq), seq, true);
            }
        }

        /// <summary><see cref="SetTarget"/>, waiting for the settings now in force.</summary>
        public Task<HelloMessage> SetTargetAsync(string word, double? threshold = null)
        {
            lock (_gate)
            {
                long seq;
                return Ask<HelloMessage>(BuildTarget(word, threshold, out seq), seq);
            }
        }

        /// <summary>Guesses per reply, 1..<c>max_top_k</c> (default 5).</summary>
        public long SetTopK(int topK)
        {
            lock (_gate)
            {
                CheckRange("topK", topK, 1, Limit("max_top_k", 20));
                long seq;
                return Send(BuildHello(_liveMs, null, "top_k", topK, out seq), seq, true);
            }
        }

        /// <summary>Continues the drawing <paramref name="drawingKey"/> of an ended connection (feature
        /// <c>resume</c>); call it before drawing anything, then resend the drawing's strokes. The
        /// history then keeps that drawing once. An unknown or expired key gets <c>unknown_drawing</c>
        /// and the session goes on with a new drawing.</summary>
        public long Resume(string drawingKey)
        {
            lock (_gate)
            {
                if (string.IsNullOrEmpty(drawingKey)) throw new ArgumentException("a drawing key is needed", "drawingKey");
                long seq;
                return Send(BuildHello(_liveMs, null, "resume", drawingKey, out seq), seq, true);
            }
        }

        /// <summary>Stores the current drawing as <paramref name="word"/>; the server answers with <c>saved</c> (its id).</summary>
        public long Submit(string word)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildSubmit(word, out seq), seq, true);
            }
        }

        /// <summary>Stores the current drawing as <paramref name="word"/> and waits for its id.</summary>
        public Task<SavedMessage> SubmitAsync(string word)
        {
            lock (_gate)
            {
                long seq;
                return Ask<SavedMessage>(BuildSubmit(word, out seq), seq);
            }
        }

        /// <summary>Asks for a PNG of a stored drawing (<paramref name="id"/>) or of the current one (no id); the server answers with <c>sprite</c>.</summary>
        /// <param name="id">A stored drawing's id from <see cref="SavedMessage.Id"/>, or null for the current drawing.</param>
        /// <param name="size">The PNG's side in pixels, or null for the server's default.</param>
        /// <param name="color">The line colour as <c>#rrggbb</c>, or null for the server's default.</param>
        /// <param name="width">The line width in pixels, or null for the server's default.</param>
        public long RequestSprite(long? id = null, int? size = null, string color = null, float? width = null)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildSprite(id, size, color, width, out seq), seq, true);
            }
        }

        /// <summary>A PNG of the current drawing (or of stored drawing <paramref name="id"/>), awaited.</summary>
        public Task<SpriteMessage> SpriteAsync(int? size = null, string color = null, float? width = null, long? id = null)
        {
            lock (_gate)
            {
                long seq;
                return Ask<SpriteMessage>(BuildSprite(id, size, color, width, out seq), seq);
            }
        }

        /// <summary>Asks the server to classify a PNG or JPEG of a whole canvas; it answers with <c>guesses</c> (strokes 0).</summary>
        public long SendImage(byte[] png)
        {
            lock (_gate)
            {
                if (png == null) throw new ArgumentNullException("png");
                double max = Limit("max_image_bytes", double.MaxValue);
                if (png.Length > max)
                    throw new ArgumentException("the image has " + png.Length + " bytes, over the server's max_image_bytes " + max, "png");
                long seq;
                var w = Begin("image", 1, out seq);
                w.WriteString("png");
                w.WriteBinary(png);
                return Send(w, seq, true);
            }
        }

        /// <summary>Teaches the custom word <paramref name="word"/> from example drawings (feature
        /// <c>teach</c>); <see cref="Taught"/> follows. Each drawing is a list of strokes.</summary>
        /// <param name="word">The new word (1..<c>max_word_chars</c> characters).</param>
        /// <param name="drawings">1..<c>max_teach_drawings</c> example drawings.</param>
        /// <param name="scope"><c>session</c> (default: this connection only) or <c>server</c> (every session; needs <paramref name="adminToken"/>).</param>
        /// <param name="adminToken">The server's admin token, for scope <c>server</c>.</param>
        public long Teach(string word, IList<IList<Stroke>> drawings, string scope = "session", string adminToken = null)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildTeach(word, drawings, scope, adminToken, out seq), seq, true);
            }
        }

        /// <summary><see cref="Teach"/>, waiting for the <c>taught</c> answer.</summary>
        public Task<TaughtMessage> TeachAsync(string word, IList<IList<Stroke>> drawings, string scope = "session", string adminToken = null)
        {
            lock (_gate)
            {
                long seq;
                return Ask<TaughtMessage>(BuildTeach(word, drawings, scope, adminToken, out seq), seq);
            }
        }

        /// <summary>Removes the custom word <paramref name="word"/>; <see cref="Forgotten"/> follows.</summary>
        public long Forget(string word, string scope = "session", string adminToken = null)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildForget(word, scope, adminToken, out seq), seq, true);
            }
        }

        /// <summary><see cref="Forget"/>, waiting for the <c>forgotten</c> answer.</summary>
        public Task<ForgottenMessage> ForgetAsync(string word, string scope = "session", string adminToken = null)
        {
            lock (_gate)
            {
                long seq;
                return Ask<ForgottenMessage>(BuildForget(word, scope, adminToken, out seq), seq);
            }
        }

        /// <summary>Sends any message map: <paramref name="message"/> must hold a string <c>type</c>; a <c>seq</c> is added.
        /// Every type but <c>points</c> is expected to be answered within <see cref="ReplyTimeout"/>.</summary>
        public long Send(IDictionary<string, object> message)
        {
            lock (_gate)
            {
                if (message == null) throw new ArgumentNullException("message");
                object type;
                if (!message.TryGetValue("type", out type) || !(type is string))
                    throw new ArgumentException("a message needs a string 'type'", "message");
                long seq;
                var w = Begin((string)type, message.Count - 1 + (message.ContainsKey("seq") ? -1 : 0), out seq);
                foreach (var kv in message)
                {
                    if (kv.Key == "type" || kv.Key == "seq") continue;
                    w.WriteString(kv.Key);
                    w.WriteValue(kv.Value);
                }
                return Send(w, seq, (string)type != "points");
            }
        }

        /// <summary>Sends <paramref name="frame"/> as one binary frame, as it is (for testing a server's error handling).</summary>
        public void SendRaw(byte[] frame)
        {
            lock (_gate)
            {
                if (frame == null) throw new ArgumentNullException("frame");
                Enqueue(frame, frame.Length);
            }
        }

        // ------------------------------------------------------------------ message builders

        private MsgPackWriter BuildHello(int liveMs, string client, string key, object value, out long seq)
        {
            CheckLiveMs(liveMs);
            var w = Begin("hello", 1 + (client != null ? 1 : 0) + (key != null ? 1 : 0), out seq);
            w.WriteString("live_ms");
            w.WriteInt(liveMs);
            if (client != null)
            {
                w.WriteString("client");
                w.WriteString(client);
            }
            if (key != null)
            {
                w.WriteString(key);
                w.WriteValue(value);
            }
            _liveMs = liveMs;
            return w;
        }

        private MsgPackWriter BuildWords(IList<string> words, out long seq)
        {
            object[] list = null;
            if (words != null)
            {
                CheckRange("words.Count", words.Count, 1, Limit("max_word_list", 345));
                list = new object[words.Count];
                for (int i = 0; i < words.Count; i++) list[i] = CheckWord(words[i], "words");
            }
            return BuildHello(_liveMs, null, "words", list, out seq);
        }

        private MsgPackWriter BuildTarget(string word, double? threshold, out long seq)
        {
            if (word != null) CheckWord(word, "word");
            if (threshold.HasValue && !(threshold.Value > 0 && threshold.Value <= 1))
                throw new ArgumentOutOfRangeException("threshold", "must be in (0, 1]");
            var w = Begin("hello", 2 + (threshold.HasValue ? 1 : 0), out seq);
            w.WriteString("live_ms");
            w.WriteInt(_liveMs);
            w.WriteString("target");
            if (word == null) w.WriteNil();
            else w.WriteString(word);
            if (threshold.HasValue)
            {
                w.WriteString("target_threshold");
                w.WriteDouble(threshold.Value);
            }
            return w;
        }

        private MsgPackWriter BuildSubmit(string word, out long seq)
        {
            CheckWord(word, "word");
            var w = Begin("submit", 1, out seq);
            w.WriteString("word");
            w.WriteString(word);
            return w;
        }

        private MsgPackWriter BuildSprite(long? id, int? size, string color, float? width, out long seq)
        {
            if (size.HasValue) CheckRange("size", size.Value, Limit("min_sprite_px", 1), Limit("max_sprite_px", 1024));
            if (width.HasValue && !(width.Value > 0 && width.Value <= Limit("max_sprite_width_px", 64)))
                throw new ArgumentOutOfRangeException("width", "must be in (0, max_sprite_width_px]");
            if (color != null && (color.Length != 7 || color[0] != '#' || !IsHex(color.Substring(1))))
                throw new ArgumentException("color must be #rrggbb", "color");
            var w = Begin("sprite", (id.HasValue ? 1 : 0) + (size.HasValue ? 1 : 0) + (color != null ? 1 : 0) + (width.HasValue ? 1 : 0), out seq);
            if (id.HasValue)
            {
                w.WriteString("id");
                w.WriteInt(id.Value);
            }
            if (size.HasValue)
            {
                w.WriteString("size");
                w.WriteInt(size.Value);
            }
            if (color != null)
            {
                w.WriteString("color");
                w.WriteString(color);
            }
            if (width.HasValue)
            {
                w.WriteString("width");
                w.WriteFloat(width.Value);
            }
            return w;
        }

        private MsgPackWriter BuildTeach(string word, IList<IList<Stroke>> drawings, string scope, string adminToken, out long seq)
        {
            CheckWord(word, "word");
            if (drawings == null) throw new ArgumentNullException("drawings");
            CheckRange("drawings.Count", drawings.Count, 1, Limit("max_teach_drawings", 20));
            var w = BeginWordMessage("teach", word, scope, adminToken, 1, out seq);
            w.WriteString("drawings");
            w.WriteArrayHeader(drawings.Count);
            foreach (var drawing in drawings)
            {
                if (drawing == null || drawing.Count == 0) throw new ArgumentException("every example drawing needs a stroke", "drawings");
                w.WriteArrayHeader(drawing.Count);
                foreach (var stroke in drawing)
                {
                    if (stroke == null) throw new ArgumentException("a stroke is null", "drawings");
                    CheckStroke(stroke.X, stroke.Y, stroke.T);
                    w.WriteMapHeader(stroke.T != null ? 3 : 2);
                    WriteCoordinates(w, "x", stroke.X, 0, stroke.X.Count);
                    WriteCoordinates(w, "y", stroke.Y, 0, stroke.Y.Count);
                    if (stroke.T != null) WriteTimes(w, stroke.T, 0, stroke.T.Count);
                }
            }
            return w;
        }

        private MsgPackWriter BuildForget(string word, string scope, string adminToken, out long seq)
        {
            CheckWord(word, "word");
            return BeginWordMessage("forget", word, scope, adminToken, 0, out seq);
        }

        /// <summary>A teach or forget message's first fields (word, scope, the admin token if any),
        /// with <paramref name="more"/> fields left for the caller to write.</summary>
        private MsgPackWriter BeginWordMessage(string type, string word, string scope, string adminToken, int more, out long seq)
        {
            var w = Begin(type, 2 + more + (adminToken != null ? 1 : 0), out seq);
            w.WriteString("word");
            w.WriteString(word);
            w.WriteString("scope");
            w.WriteString(scope ?? "session");
            if (adminToken != null)
            {
                w.WriteString("admin_token");
                w.WriteString(adminToken);
            }
            return w;
        }

        // ------------------------------------------------------------------ checks against welcome.limits

        private int MaxPointsPerMessage
        {
            get { return Math.Max(1, (int)Limit("max_points_per_message", DefaultMaxPointsPerMessage)); }
        }

        /// <summary>The server's limit called <paramref name="name"/> (from <c>welcome</c>), or <paramref name="fallback"/>.</summary>
        private double Limit(string name, double fallback)
        {
            var w = Welcome;
            return w == null ? fallback : w.Limit(name, fallback);
        }

        private static void CheckRange(string what, double v, double min, double max)
        {
            if (v < min || v > max) throw new ArgumentOutOfRangeException(what, v, "must be between " + min + " and " + max + " (the server's limits)");
        }

        private void CheckLiveMs(int liveMs)
        {
            if (liveMs != 0) CheckRange("liveMs", liveMs, Limit("min_live_ms", 50), Limit("max_live_ms", 5000));
        }

        private string CheckWord(string word, string what)
        {
            if (word == null) throw new ArgumentNullException(what);
            double max = Limit("max_word_chars", 64);
            if (word.Trim().Length == 0 || word.Length > max)
                throw new ArgumentException("a word must have 1.." + max + " characters, got " + word.Length, what);
            return word;
        }

        private static bool IsHex(string s)
        {
            foreach (char c in s)
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
            return true;
        }

        private static void CheckPoints(IList<float> x, IList<float> y, IList<long> t)
        {
            if (x == null) throw new ArgumentNullException("x");
            if (y == null) throw new ArgumentNullException("y");
            if (x.Count != y.Count) throw new ArgumentException("x has " + x.Count + " values but y has " + y.Count);
            if (t != null && t.Count != x.Count) throw new ArgumentException("t has " + t.Count + " values but x has " + x.Count);
            for (int i = 0; i < x.Count; i++)
                if (float.IsNaN(x[i]) || float.IsInfinity(x[i]) || float.IsNaN(y[i]) || float.IsInfinity(y[i]))
                    throw new ArgumentException("point " + i + " is NaN or infinite");
        }

        private void CheckStroke(IList<float> x, IList<float> y, IList<long> t)
        {
            CheckPoints(x, y, t);
            double max = Limit("max_points_per_stroke", double.MaxValue);
            if (x.Count == 0 || x.Count > max)
                throw new ArgumentException("a stroke must have 1.." + max + " points (the server's max_points_per_stroke), got " + x.Count, "x");
        }

        // ------------------------------------------------------------------ encoding and queueing

        private MsgPackWriter BuildPoints(string type, IList<float> x, IList<float> y, IList<long> t, int start, int count, out long seq)
        {
            var w = Begin(type, t != null ? 3 : 2, out seq);
            WriteCoordinates(w, "x", x, start, count);
            WriteCoordinates(w, "y", y, start, count);
            if (t != null) WriteTimes(w, t, start, count);
            return w;
        }

        private static void WriteTimes(MsgPackWriter w, IList<long> t, int start, int count)
        {
            w.WriteString("t");
            w.WriteArrayHeader(count);
            for (int i = start; i < start + count; i++) w.WriteInt(t[i]);
        }

        // Whole-number coordinates (mouse pixels) go out as msgpack ints: 1-3 bytes instead of 5.
        private static void WriteCoordinates(MsgPackWriter w, string key, IList<float> v, int start, int count)
        {
            w.WriteString(key);
            w.WriteArrayHeader(count);
            for (int i = start; i < start + count; i++)
            {
                float f = v[i];
                if (f == (float)Math.Floor(f) && Math.Abs(f) < 1e9f) w.WriteInt((long)f);
                else w.WriteFloat(f);
            }
        }

        // Starts a message map of type, seq and extraFields more pairs in the reused writer; seq is this message's fresh seq.
        private MsgPackWriter Begin(string type, int extraFields, out long seq)
        {
            if (State != ConnectionState.Connected)
                throw new InvalidOperationException("not connected (state " + State + ")");
            var w = _writer;
            w.Clear();
            w.WriteMapHeader(2 + extraFields);
            w.WriteString("type");
            w.WriteString(type);
            seq = ++_seq;
            w.WriteString("seq");
            w.WriteInt(seq);
            return w;
        }

        // Hands the message to the transport (which copies it); when the server answers it, the answer is due within ReplyTimeout.
        private long Send(MsgPackWriter w, long seq, bool answered, Pending pending = null)
        {
            CheckFrame(w.Length);
            Enqueue(w.GetBuffer(), w.Length);
            if (answered || pending != null)
            {
                pending = pending ?? new Pending();
                pending.DueTicks = DueTicks();
                _pending[seq] = pending;
            }
            return seq;
        }

        // Queues the message and completes the task with its answer (an error answer throws DoodleServerException).
        private Task<T> Ask<T>(MsgPackWriter w, long seq) where T : ServerMessage
        {
            // Continuations run inside Pump, on the pumping thread (WebGL has no thread pool to post to);
            // on the thread pool for a client pumped by its own thread (ConnectAsync).
            var tcs = new TaskCompletionSource<T>(_pumpThread == null ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
            var pending = new Pending
            {
                OnReply = m =>
                {
                    var reply = m as T;
                    if (m is ErrorMessage) tcs.TrySetException(new DoodleServerException((ErrorMessage)m));
                    else if (reply != null) tcs.TrySetResult(reply);
                    else tcs.TrySetException(new DoodleProtocolException("expected '" + typeof(T).Name + "' in answer to seq " + seq + ", got '" + m.Type + "'"));
                },
                OnFail = e => tcs.TrySetException(e),
            };
            Send(w, seq, true, pending);
            return tcs.Task;
        }

        private long DueTicks()
        {
            var timeout = ReplyTimeout;
            return timeout > TimeSpan.Zero ? NowTicks() + (long)(timeout.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        }

        private void CheckFrame(int length)
        {
            double max = Limit("max_frame_bytes", double.MaxValue);
            if (length > max) // the server would close the connection (1009) without a word
                throw new ArgumentException("the message would be " + length + " bytes, over the server's max_frame_bytes " + max);
        }

        private void Enqueue(byte[] frame, int length)
        {
            if (State != ConnectionState.Connected)
                throw new InvalidOperationException("not connected (state " + State + ")");
            if (_transport.BufferedBytes + length > MaxQueuedBytes)
                throw new InvalidOperationException("send queue is full (" + MaxQueuedBytes + " bytes waiting); is the server reachable?");
            _lastSendTicks = NowTicks();
            _transport.Send(frame, 0, length);
        }

        // The reply timeout and the keep-alive at time `now`; false once the connection is ended.
        private bool CheckTimers(long now)
        {
            var reply = ReplyTimeout;
            var keepAlive = KeepAliveInterval;
            foreach (var kv in _pending) // Dictionary's enumerator is a struct: nothing allocated per frame
            {
                if (kv.Value.DueTicks >= now) continue;
                var e = new TimeoutException("no answer to seq " + kv.Key + " within " + reply.TotalSeconds + " s: the connection is presumed dead");
                End(null, e.Message, e, false);
                return false;
            }
            if (keepAlive > TimeSpan.Zero && _pending.Count == 0 && State == ConnectionState.Connected
                && now - _lastSendTicks >= keepAlive.TotalSeconds * Stopwatch.Frequency)
            {
                try
                {
                    long seq;
                    var w = Begin("hello", 1, out seq);
                    w.WriteString("live_ms");
                    w.WriteInt(_liveMs);
                    Send(w, seq, true, new Pending { KeepAlive = true });
                }
                catch (InvalidOperationException)
                {
                    // closing meanwhile, or the queue is full: the reply check covers it
                }
            }
            return true;
        }

        // ------------------------------------------------------------------ receiving

        private void Dispatch(ServerMessage msg)
        {
            Pending pending = null;
            if (msg.Seq.HasValue && _pending.TryGetValue(msg.Seq.Value, out pending)) _pending.Remove(msg.Seq.Value);
            if (pending != null && pending.KeepAlive) return; // only proof of life
            string drawing = msg is GuessesMessage ? ((GuessesMessage)msg).Drawing
                : msg is ClearedMessage ? ((ClearedMessage)msg).Drawing
                : msg is HelloMessage ? ((HelloMessage)msg).Drawing : null;
            if (drawing != null) _drawing = drawing;
            if (pending != null && pending.OnReply != null)
            {
                try
                {
                    pending.OnReply(msg);
                }
                catch (Exception e)
                {
                    Fault(e);
                }
            }
            try
            {
                if (msg is GuessesMessage) Raise(GuessesReceived, (GuessesMessage)msg);
                else if (msg is RecognizedMessage) Raise(Recognized, (RecognizedMessage)msg);
                else if (msg is TaughtMessage) Raise(Taught, (TaughtMessage)msg);
                else if (msg is ForgottenMessage) Raise(Forgotten, (ForgottenMessage)msg);
                else if (msg is WelcomeMessage) Raise(Welcomed, (WelcomeMessage)msg);
                else if (msg is ErrorMessage) Raise(ErrorReceived, (ErrorMessage)msg);
                else if (msg is ClearedMessage) Raise(Cleared, (ClearedMessage)msg);
                else if (msg is HelloMessage) Raise(HelloReceived, (HelloMessage)msg);
                else if (msg is SavedMessage) Raise(Saved, (SavedMessage)msg);
                else if (msg is SpriteMessage) Raise(SpriteReceived, (SpriteMessage)msg);
                else DispatchRoom(msg);
            }
            finally
            {
                Raise(MessageReceived, msg);
            }
        }

        private Action<Exception> _fault; // Fault as a delegate, made once

        // Each handler on its own: one that throws does not keep the message from the others.
        private void Raise<T>(Action<T> handler, T arg)
        {
            Handlers.InvokeEach(handler, arg, _fault ?? (_fault = Fault));
        }

        private void Fault(Exception e)
        {
            Handlers.Report(Faulted, e);
        }

        // ------------------------------------------------------------------ closing

        /// <summary>Closes the connection politely: the transport sends what it holds, then the close frame.
        /// The task completes inside <see cref="Pump"/> when the server answered the close, or after
        /// <paramref name="timeout"/> (default 2 s), when the client lets the transport go. The transport
        /// is disposed only then: one that drops its queue on <c>Dispose</c> loses nothing.</summary>
        public Task CloseAsync(TimeSpan? timeout = null)
        {
            lock (_gate)
            {
                var limit = timeout ?? TimeSpan.FromSeconds(2);
                if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Closing, (int)ConnectionState.Connected) != (int)ConnectionState.Connected)
                {
                    if (State != ConnectionState.Closing) Dispose(); // closing already: the first close goes on
                    return _endedTask.Task;
                }
                _closeDueTicks = NowTicks() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
                try
                {
                    _transport.Close(1000, "client closing"); // the transport sends what is queued first
                }
                catch (Exception)
                {
                    Dispose();
                }
                return _endedTask.Task;
            }
        }

        /// <summary>Closes the socket at once (no close handshake; the transport is disposed) and stops the pump thread if any; safe to call more than once.</summary>
        public void Dispose()
        {
            lock (_gate) End(null, "closed by client", null, true);
        }

        private void End(System.Net.WebSockets.WebSocketCloseStatus? status, string reason, Exception error, bool byClient)
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0) return;
            SetState(ConnectionState.Disconnected);
            try
            {
                _transport.Dispose();
            }
            catch (Exception)
            {
                // already gone
            }
            if (_pumpThread != null) _pumpThread.Stop();
            var info = new DisconnectInfo(status, reason, error, byClient);
            FailPending(info);
            if (_welcomed != null && !_welcomed.Task.IsCompleted)
                _welcomed.TrySetException(error ?? new DoodleDisconnectedException(info));
            Raise(Disconnected, info);
            _endedTask.TrySetResult(true);
        }

        // Every request still waiting fails; one registered after this point finds the state Disconnected first.
        private void FailPending(DisconnectInfo info)
        {
            if (_pending.Count == 0) return;
            var waiting = new List<Pending>(_pending.Values);
            _pending.Clear();
            foreach (var p in waiting)
            {
                if (p.OnFail == null) continue;
                try
                {
                    p.OnFail(new DoodleDisconnectedException(info));
                }
                catch (Exception)
                {
                    // a continuation's trouble is not ours
                }
            }
        }

        private void SetState(ConnectionState s)
        {
            Volatile.Write(ref _state, (int)s);
        }
    }

    /// <summary>
    /// Pumps a <see cref="DoodleClient"/> or <see cref="DoodleSession"/> from a background thread, for
    /// programs without a game loop (bots, tools, tests). Never in Unity: there the MonoBehaviour pumps
    /// from Update (WebGL players have no threads at all).
    /// </summary>
    public sealed class DoodlePumpThread
    {
        /// <summary>Milliseconds between two pumps.</summary>
        public const int IntervalMs = 5;

        private static readonly Stopwatch Clock = Stopwatch.StartNew();
        private readonly Action<double> _pump;
        private readonly Func<bool> _done;
        private volatile bool _stop;

        /// <summary>Seconds on the clock the thread pumps with (monotonic, any origin).</summary>
        public static double Now { get { return Clock.Elapsed.TotalSeconds; } }

        /// <summary>Starts a background thread calling <paramref name="pump"/>(<see cref="Now"/>) every
        /// <see cref="IntervalMs"/> ms until <paramref name="done"/> returns true or <see cref="Stop"/> is called.</summary>
        public DoodlePumpThread(Action<double> pump, Func<bool> done)
        {
            if (pump == null) throw new ArgumentNullException("pump");
            _pump = pump;
            _done = done ?? (() => false);
            new Thread(Run) { IsBackground = true, Name = "doodlestream pump" }.Start();
        }

        /// <summary>Ends the thread after its current pump (safe from any thread, the pump's own included).</summary>
        public void Stop()
        {
            _stop = true;
        }

        private void Run()
        {
            while (!_stop)
            {
                try
                {
                    _pump(Now);
                }
                catch (Exception)
                {
                    // a client reports its failures as events; nothing is left to tell here
                }
                if (_done()) return;
                Thread.Sleep(IntervalMs);
            }
        }
    }

    /// <summary>Raising events whose handlers may throw (shared by <see cref="DoodleClient"/> and the MonoBehaviour).</summary>
    internal static class Handlers
    {
        /// <summary>Passes <paramref name="e"/> to the <c>Faulted</c> handler <paramref name="faulted"/>, if any; one that throws has nowhere left to report to.</summary>
        internal static void Report(Action<Exception> faulted, Exception e)
        {
            if (faulted == null) return;
            try
            {
                faulted(e);
            }
            catch (Exception)
            {
                // nowhere left to report to
            }
        }

        /// <summary>Calls each handler of <paramref name="handler"/> on its own: one that throws is passed to
        /// <paramref name="onThrow"/> and the handlers after it still run.</summary>
        internal static void InvokeEach<T>(Action<T> handler, T arg, Action<Exception> onThrow)
        {
            if (handler == null) return;
            foreach (var d in handler.GetInvocationList())
            {
                try
                {
                    ((Action<T>)d)(arg);
                }
                catch (Exception e)
                {
                    onThrow(e);
                }
            }
        }
    }
}
