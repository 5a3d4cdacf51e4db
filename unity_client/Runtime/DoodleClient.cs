// A plain C# client for doodlestream protocol v1 over System.Net.WebSockets.ClientWebSocket.
// No UnityEngine dependency: it runs in Unity (2021 LTS and later, not WebGL) and in any .NET
// (Framework 4.x, Mono, .NET Standard 2.x) program.

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
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

    /// <summary>
    /// One connection to a doodlestream server: sends drawing messages as msgpack binary frames
    /// and raises a typed event for every message the server sends.
    /// </summary>
    /// <remarks>
    /// <para>Threading: the <c>Send*</c> methods are thread-safe and never block; they queue the frame
    /// for a background send loop (frames go out in the order they were queued). Events are raised
    /// on a thread-pool thread, one at a time, in the order the messages arrived; in Unity use
    /// <c>DoodleStreamBehaviour</c>, which forwards them to the main thread.</para>
    /// <para>A client connects once. To reconnect, dispose it and create a new one (the server
    /// starts a new session, with an empty drawing, for every connection).</para>
    /// <para>Every message gets a fresh <c>seq</c>; the <c>Send*</c> methods return it, and the
    /// server echoes it in the reply (<see cref="ServerMessage.Seq"/>), errors included.</para>
    /// </remarks>
    public sealed class DoodleClient : IDisposable
    {
        /// <summary>Points per <c>points</c> message when the server's <c>welcome</c> does not say.</summary>
        public const int DefaultMaxPointsPerMessage = 2048;

        private readonly ClientWebSocket _ws = new ClientWebSocket();
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly ConcurrentQueue<byte[]> _outbox = new ConcurrentQueue<byte[]>();
        private readonly SemaphoreSlim _outboxSignal = new SemaphoreSlim(0);
        private long _queuedBytes;
        private long _seq;
        private int _state = (int)ConnectionState.Disconnected;
        private int _ended;
        private int _started;
        private Task _receiveLoop = Task.FromResult(0);

        /// <summary>Creates a client for <paramref name="url"/>, e.g. <c>ws://127.0.0.1:8765/ws</c>.</summary>
        public DoodleClient(string url) : this(new Uri(url)) { }

        /// <summary>Creates a client for <paramref name="url"/> (scheme <c>ws</c> or <c>wss</c>).</summary>
        public DoodleClient(Uri url)
        {
            if (url == null) throw new ArgumentNullException("url");
            if (url.Scheme != "ws" && url.Scheme != "wss")
                throw new ArgumentException("the server URL must start with ws:// or wss://, got " + url, "url");
            Url = url;
            ConnectTimeout = TimeSpan.FromSeconds(10);
            MaxMessageBytes = 16 * 1024 * 1024;
            MaxQueuedBytes = 8 * 1024 * 1024;
        }

        /// <summary>The server's WebSocket URL.</summary>
        public Uri Url { get; private set; }

        /// <summary>Longest wait for the socket to open and <c>welcome</c> to arrive (default 10 s).</summary>
        public TimeSpan ConnectTimeout { get; set; }

        /// <summary>Largest server message accepted, in bytes (default 16 MiB); a larger one ends the connection.</summary>
        public int MaxMessageBytes { get; set; }

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
        /// <summary>Raised for every server message, known types and unknown ones, after its typed event.</summary>
        public event Action<ServerMessage> MessageReceived;
        /// <summary>Raised for problems on this side that do not end the connection: an undecodable server frame, an event handler that threw.</summary>
        public event Action<Exception> Faulted;
        /// <summary>Raised once when the connection ends, whoever ended it.</summary>
        public event Action<DisconnectInfo> Disconnected;

        /// <summary>Opens the socket and waits for the server's <c>welcome</c>; then messages can be sent.</summary>
        /// <exception cref="InvalidOperationException">This client was already connected once.</exception>
        /// <exception cref="TimeoutException">No <c>welcome</c> within <see cref="ConnectTimeout"/>.</exception>
        /// <exception cref="WebSocketException">The socket could not be opened.</exception>
        public async Task<WelcomeMessage> ConnectAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            if (Interlocked.Exchange(ref _started, 1) != 0)
                throw new InvalidOperationException("a DoodleClient connects once; create a new one to reconnect");
            SetState(ConnectionState.Connecting);
            using (var timeout = new CancellationTokenSource(ConnectTimeout))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _stop.Token))
            {
                try
                {
                    await _ws.ConnectAsync(Url, linked.Token).ConfigureAwait(false);
                    var first = await ReceiveMessageAsync(linked.Token).ConfigureAwait(false);
                    var welcome = first as WelcomeMessage;
                    if (welcome == null)
                        throw new DoodleProtocolException("expected 'welcome' first, got " + (first == null ? "the connection closing" : "'" + first.Type + "'"));
                    Welcome = welcome;
                }
                catch (Exception e)
                {
                    bool timedOut = timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested;
                    Exception error = timedOut ? new TimeoutException("no welcome from " + Url + " within " + ConnectTimeout.TotalSeconds + " s", e) : e;
                    End(null, error.Message, error, false);
                    if (timedOut) throw error;
                    throw;
                }
            }
            SetState(ConnectionState.Connected);
            _ = Task.Run(() => SendLoopAsync()); // ends on its own when the connection ends
            Dispatch(Welcome); // before the receive loop starts, so that Welcomed is always the first event
            _receiveLoop = Task.Run(() => ReceiveLoopAsync());
            return Welcome;
        }

        // ------------------------------------------------------------------ sending

        /// <summary>Appends points to the current stroke (the first points after a pen-up start a new stroke).</summary>
        /// <param name="x">X coordinates (any unit; the server normalises the drawing).</param>
        /// <param name="y">Y coordinates, growing downwards as in Quick, Draw! (flip Unity's screen y).</param>
        /// <param name="t">Optional times in milliseconds since the drawing began (the server stamps them when absent).</param>
        /// <returns>The <c>seq</c> of the (last) message sent. More points than the server's
        /// <c>max_points_per_message</c> go out as several messages.</returns>
        public long SendPoints(IList<float> x, IList<float> y, IList<long> t = null)
        {
            CheckPoints(x, y, t);
            int per = MaxPointsPerMessage;
            long seq;
            int start = 0;
            do
            {
                seq = QueuePoints("points", x, y, t, start, Math.Min(per, x.Count - start));
                start += per;
            } while (start < x.Count);
            return seq;
        }

        /// <summary>Appends one point to the current stroke; see <see cref="SendPoints"/>.</summary>
        public long SendPoint(float x, float y, long? t = null)
        {
            return SendPoints(new[] { x }, new[] { y }, t.HasValue ? new[] { t.Value } : null);
        }

        /// <summary>Ends the current stroke; the server answers with <c>guesses</c>.</summary>
        public long PenUp()
        {
            return QueueSimple("pen_up");
        }

        /// <summary>Sends a whole stroke (points, then pen-up); the server answers with <c>guesses</c>.</summary>
        public long SendStroke(IList<float> x, IList<float> y, IList<long> t = null)
        {
            CheckPoints(x, y, t);
            if (x.Count <= MaxPointsPerMessage) return QueuePoints("stroke", x, y, t, 0, x.Count);
            SendPoints(x, y, t);
            return PenUp();
        }

        /// <summary>Drops the stroke in progress, else the last stroke; the server answers with <c>guesses</c> for what is left.</summary>
        public long Undo()
        {
            return QueueSimple("undo");
        }

        /// <summary>Starts a new, empty drawing; the server answers with <c>cleared</c>.</summary>
        public long Clear()
        {
            return QueueSimple("clear");
        }

        /// <summary>Opts in to live guesses every <paramref name="liveMs"/> ms while drawing (0 = off, else 50..5000).</summary>
        /// <param name="liveMs">Interval of live guesses in milliseconds, or 0 for none.</param>
        /// <param name="client">The kind of client, reported to the server.</param>
        public long Hello(int liveMs, string client = "unity")
        {
            long seq;
            var w = Begin("hello", 1 + (client != null ? 1 : 0), out seq);
            w.WriteString("live_ms");
            w.WriteInt(liveMs);
            if (client != null)
            {
                w.WriteString("client");
                w.WriteString(client);
            }
            return Queue(w, seq);
        }

        /// <summary>Stores the current drawing as <paramref name="word"/>; the server answers with <c>saved</c> (its id).</summary>
        public long Submit(string word)
        {
            if (word == null) throw new ArgumentNullException("word");
            long seq;
            var w = Begin("submit", 1, out seq);
            w.WriteString("word");
            w.WriteString(word);
            return Queue(w, seq);
        }

        /// <summary>Asks for a PNG of a stored drawing (<paramref name="id"/>) or of the current one (no id); the server answers with <c>sprite</c>.</summary>
        /// <param name="id">A stored drawing's id from <see cref="SavedMessage.Id"/>, or null for the current drawing.</param>
        /// <param name="size">The PNG's side in pixels, or null for the server's default.</param>
        public long RequestSprite(long? id = null, int? size = null)
        {
            long seq;
            var w = Begin("sprite", (id.HasValue ? 1 : 0) + (size.HasValue ? 1 : 0), out seq);
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
            return Queue(w, seq);
        }

        /// <summary>Asks the server to classify a PNG or JPEG of a whole canvas; it answers with <c>guesses</c> (strokes 0).</summary>
        public long SendImage(byte[] png)
        {
            if (png == null) throw new ArgumentNullException("png");
            long seq;
            var w = Begin("image", 1, out seq);
            w.WriteString("png");
            w.WriteBinary(png);
            return Queue(w, seq);
        }

        /// <summary>Sends any message map: <paramref name="message"/> must hold a string <c>type</c>; a <c>seq</c> is added.</summary>
        public long Send(IDictionary<string, object> message)
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
            return Queue(w, seq);
        }

        /// <summary>Sends <paramref name="frame"/> as one binary frame, as it is (for testing a server's error handling).</summary>
        public void SendRaw(byte[] frame)
        {
            if (frame == null) throw new ArgumentNullException("frame");
            Enqueue((byte[])frame.Clone());
        }

        private int MaxPointsPerMessage
        {
            get
            {
                var w = Welcome;
                return w == null ? DefaultMaxPointsPerMessage : Math.Max(1, (int)w.Limit("max_points_per_message", DefaultMaxPointsPerMessage));
            }
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

        private long QueuePoints(string type, IList<float> x, IList<float> y, IList<long> t, int start, int count)
        {
            long seq;
            var w = Begin(type, t != null ? 3 : 2, out seq);
            WriteCoordinates(w, "x", x, start, count);
            WriteCoordinates(w, "y", y, start, count);
            if (t != null)
            {
                w.WriteString("t");
                w.WriteArrayHeader(count);
                for (int i = start; i < start + count; i++) w.WriteInt(t[i]);
            }
            return Queue(w, seq);
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

        private long QueueSimple(string type)
        {
            long seq;
            var w = Begin(type, 0, out seq);
            return Queue(w, seq);
        }

        // Starts a message map of type, seq and extraFields more pairs; seq is this message's fresh seq.
        private MsgPackWriter Begin(string type, int extraFields, out long seq)
        {
            if (State != ConnectionState.Connected)
                throw new InvalidOperationException("not connected (state " + State + ")");
            var w = new MsgPackWriter(64);
            w.WriteMapHeader(2 + extraFields);
            w.WriteString("type");
            w.WriteString(type);
            seq = Interlocked.Increment(ref _seq);
            w.WriteString("seq");
            w.WriteInt(seq);
            return w;
        }

        private long Queue(MsgPackWriter w, long seq)
        {
            Enqueue(w.ToArray());
            return seq;
        }

        private void Enqueue(byte[] frame)
        {
            if (State != ConnectionState.Connected)
                throw new InvalidOperationException("not connected (state " + State + ")");
            if (Interlocked.Add(ref _queuedBytes, frame.Length) > MaxQueuedBytes)
            {
                Interlocked.Add(ref _queuedBytes, -frame.Length);
                throw new InvalidOperationException("send queue is full (" + MaxQueuedBytes + " bytes waiting); is the server reachable?");
            }
            _outbox.Enqueue(frame);
            _outboxSignal.Release();
        }

        private async Task SendLoopAsync()
        {
            try
            {
                while (true)
                {
                    await _outboxSignal.WaitAsync(_stop.Token).ConfigureAwait(false);
                    byte[] frame;
                    if (!_outbox.TryDequeue(out frame)) continue;
                    Interlocked.Add(ref _queuedBytes, -frame.Length);
                    await _ws.SendAsync(new ArraySegment<byte>(frame), WebSocketMessageType.Binary, true, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                End(null, "send failed: " + e.Message, e, false);
            }
        }

        // ------------------------------------------------------------------ receiving

        private byte[] _rx = new byte[64 * 1024];

        /// <summary>The next whole server message, decoded and parsed; null when the server closed.</summary>
        private async Task<ServerMessage> ReceiveMessageAsync(CancellationToken ct)
        {
            int len = 0;
            while (true)
            {
                if (len == _rx.Length)
                {
                    if (len >= MaxMessageBytes) // fatal: the rest of the frame cannot be skipped cleanly
                        throw new System.IO.InvalidDataException("server message larger than " + MaxMessageBytes + " bytes");
                    Array.Resize(ref _rx, (int)Math.Min((long)_rx.Length * 2, MaxMessageBytes));
                }
                var r = await _ws.ReceiveAsync(new ArraySegment<byte>(_rx, len, _rx.Length - len), ct).ConfigureAwait(false);
                if (r.MessageType == WebSocketMessageType.Close) return null;
                len += r.Count;
                if (!r.EndOfMessage) continue;
                if (r.MessageType == WebSocketMessageType.Text)
                    throw new DoodleProtocolException("server sent a text frame; this client speaks msgpack only");
                var map = MsgPackCodec.Deserialize(_rx, 0, len) as IDictionary<string, object>;
                if (map == null) throw new DoodleProtocolException("server message is not a map");
                return ServerMessage.Parse(map);
            }
        }

        private async Task ReceiveLoopAsync()
        {
            try
            {
                while (true)
                {
                    ServerMessage msg;
                    try
                    {
                        msg = await ReceiveMessageAsync(_stop.Token).ConfigureAwait(false);
                    }
                    catch (FormatException e) // MsgPackException, DoodleProtocolException: skip the frame
                    {
                        Fault(e);
                        continue;
                    }
                    if (msg == null) break;
                    Dispatch(msg);
                }
                // The server closed: answer its close frame, then report why it closed.
                var status = _ws.CloseStatus;
                string reason = _ws.CloseStatusDescription;
                try
                {
                    using (var t = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
                        await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", t.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // the socket is going away anyway
                }
                End(status, reason, null, State == ConnectionState.Closing);
            }
            catch (Exception e)
            {
                bool byClient = _stop.IsCancellationRequested || State == ConnectionState.Closing;
                End(SafeCloseStatus(), byClient ? "closed by client" : "receive failed: " + e.Message, byClient ? null : e, byClient);
            }
        }

        private void Dispatch(ServerMessage msg)
        {
            try
            {
                if (msg is GuessesMessage) Raise(GuessesReceived, (GuessesMessage)msg);
                else if (msg is WelcomeMessage) Raise(Welcomed, (WelcomeMessage)msg);
                else if (msg is ErrorMessage) Raise(ErrorReceived, (ErrorMessage)msg);
                else if (msg is ClearedMessage) Raise(Cleared, (ClearedMessage)msg);
                else if (msg is HelloMessage) Raise(HelloReceived, (HelloMessage)msg);
                else if (msg is SavedMessage) Raise(Saved, (SavedMessage)msg);
                else if (msg is SpriteMessage) Raise(SpriteReceived, (SpriteMessage)msg);
            }
            finally
            {
                Raise(MessageReceived, msg);
            }
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
                Fault(e);
            }
        }

        private void Fault(Exception e)
        {
            var h = Faulted;
            if (h == null) return;
            try
            {
                h(e);
            }
            catch (Exception)
            {
                // a throwing Faulted handler has nowhere left to report to
            }
        }

        // ------------------------------------------------------------------ closing

        /// <summary>Closes the connection politely: the queued frames are sent first; waits at most <paramref name="timeout"/> (default 2 s).</summary>
        public async Task CloseAsync(TimeSpan? timeout = null)
        {
            var limit = timeout ?? TimeSpan.FromSeconds(2);
            if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Closing, (int)ConnectionState.Connected) != (int)ConnectionState.Connected)
            {
                Dispose();
                return;
            }
            var deadline = DateTime.UtcNow + limit;
            while (!_outbox.IsEmpty && DateTime.UtcNow < deadline && Volatile.Read(ref _ended) == 0)
                await Task.Delay(5).ConfigureAwait(false);
            try
            {
                using (var t = new CancellationTokenSource(limit))
                    await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "client closing", t.Token).ConfigureAwait(false);
                await Task.WhenAny(_receiveLoop, Task.Delay(limit)).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // fall through to the hard close
            }
            Dispose();
        }

        /// <summary>Closes the socket at once (no close handshake) and stops the loops; safe to call more than once.</summary>
        public void Dispose()
        {
            End(null, "closed by client", null, true);
        }

        private void End(WebSocketCloseStatus? status, string reason, Exception error, bool byClient)
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0) return;
            SetState(ConnectionState.Disconnected);
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            try
            {
                _ws.Abort();
                _ws.Dispose();
            }
            catch (Exception)
            {
                // already gone
            }
            byte[] dropped;
            while (_outbox.TryDequeue(out dropped)) { }
            Raise(Disconnected, new DisconnectInfo(status, reason, error, byClient));
        }

        private WebSocketCloseStatus? SafeCloseStatus()
        {
            try
            {
                return _ws.CloseStatus;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
        }

        private void SetState(ConnectionState s)
        {
            Volatile.Write(ref _state, (int)s);
        }
    }
}
