// IDoodleTransport over System.Net.WebSockets.ClientWebSocket, polled: for pumped mode in native players.

using System;
using System.Collections.Generic;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;

namespace Doodlestream
{
    /// <summary>
    /// A <see cref="IDoodleTransport"/> over <see cref="ClientWebSocket"/> (native players and any
    /// .NET; not WebGL). Receiving is polled: every call to <see cref="TryReceive"/> looks at the
    /// receive in flight and starts the next one. Sending runs on one background thread: <see cref="Send"/>
    /// copies the message into a pooled buffer and queues it, so the pumping thread allocates nothing
    /// per frame while drawing (a <c>SendAsync</c> there would allocate its task every frame).
    /// </summary>
    public sealed class ClientWebSocketTransport : IDoodleTransport
    {
        private readonly ClientWebSocket _ws = new ClientWebSocket();
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private struct Frame
        {
            public byte[] Buffer;
            public int Count;
        }

        private readonly object _sendLock = new object(); // guards _outbox, _pool, _buffered, _sendError, _closeWanted
        private readonly Queue<Frame> _outbox = new Queue<Frame>(64);
        private readonly Stack<byte[]> _pool = new Stack<byte[]>();
        private readonly ManualResetEventSlim _sendDone = new ManualResetEventSlim();
        private Exception _sendError;
        private Thread _sender;
        private readonly Queue<TransportEvent> _events = new Queue<TransportEvent>();
        private Task _connect, _close;
        private Task<WebSocketReceiveResult> _receive;
        private byte[] _rx = new byte[64 * 1024];
        private int _rxLen;
        private int _maxMessageBytes;
        private long _buffered;
        private bool _open, _closeWanted, _done;
        private int _closeCode;
        private string _closeReason;

        /// <inheritdoc/>
        public long BufferedBytes { get { lock (_sendLock) return _buffered; } }

        /// <inheritdoc/>
        public void Connect(Uri url, string token, int maxMessageBytes)
        {
            if (_connect != null) throw new InvalidOperationException("a transport connects once");
            _maxMessageBytes = maxMessageBytes;
            if (!string.IsNullOrEmpty(token)) _ws.Options.SetRequestHeader("Authorization", "Bearer " + token);
            _connect = _ws.ConnectAsync(url, _stop.Token);
        }

        /// <inheritdoc/>
        public void Send(byte[] buffer, int offset, int count)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (offset < 0 || count < 0 || offset > buffer.Length - count) throw new ArgumentOutOfRangeException("count");
            lock (_sendLock)
            {
                if (!_open || _closeWanted || _done) throw new InvalidOperationException("the socket is not open");
                byte[] pooled = _pool.Count > 0 && _pool.Peek().Length >= count ? _pool.Pop() : new byte[Math.Max(count, 256)];
                Buffer.BlockCopy(buffer, offset, pooled, 0, count);
                _outbox.Enqueue(new Frame { Buffer = pooled, Count = count });
                _buffered += count;
                Monitor.Pulse(_sendLock);
            }
        }

        // The sender thread: the queued frames in order, then the close frame once asked for.
        private void SendLoop()
        {
            try
            {
                while (true)
                {
                    Frame f;
                    lock (_sendLock)
                    {
                        while (_outbox.Count == 0 && !_closeWanted && !_stop.IsCancellationRequested) Monitor.Wait(_sendLock);
                        if (_stop.IsCancellationRequested) return;
                        if (_outbox.Count == 0) break; // close wanted, everything sent
                        f = _outbox.Dequeue();
                    }
                    _ws.SendAsync(new ArraySegment<byte>(f.Buffer, 0, f.Count), WebSocketMessageType.Binary, true, _stop.Token).GetAwaiter().GetResult();
                    lock (_sendLock)
                    {
                        _buffered -= f.Count;
                        if (_pool.Count < 64) _pool.Push(f.Buffer);
                    }
                }
                _ws.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeReason ?? "", _stop.Token).GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                lock (_sendLock) if (!_stop.IsCancellationRequested) _sendError = e;
            }
            finally
            {
                _sendDone.Set();
            }
        }

        /// <inheritdoc/>
        public void Close(int code, string reason)
        {
            if (_done) return;
            if (!_open)
            {
                Finish(1000, reason);
                return;
            }
            lock (_sendLock)
            {
                _closeCode = code;
                _closeReason = reason;
                _closeWanted = true;
                Monitor.Pulse(_sendLock);
            }
        }

        /// <inheritdoc/>
        public bool TryReceive(out TransportEvent e)
        {
            if (_events.Count == 0 && !_done) Step();
            if (_events.Count > 0)
            {
                e = _events.Dequeue();
                return true;
            }
            e = default(TransportEvent);
            return false;
        }

        // Looks at what completed and starts what comes next; never blocks.
        private void Step()
        {
            try
            {
                if (_connect == null || !_connect.IsCompleted) return;
                if (!_open)
                {
                    if (_connect.IsFaulted || _connect.IsCanceled) { Fail(_connect.Exception); return; }
                    lock (_sendLock) _open = true;
                    _sender = new Thread(SendLoop) { IsBackground = true, Name = "doodlestream send" };
                    _sender.Start();
                    _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Open });
                }
                Exception sendError;
                lock (_sendLock) sendError = _sendError;
                if (sendError != null) { Fail(sendError); return; }
                while (!_done)
                {
                    if (_receive == null)
                    {
                        if (_rxLen == _rx.Length)
                        {
                            if (_rxLen >= _maxMessageBytes)
                            {
                                Fail(new System.IO.InvalidDataException("server message larger than " + _maxMessageBytes + " bytes"));
                                return;
                            }
                            Array.Resize(ref _rx, (int)Math.Min((long)_rx.Length * 2, _maxMessageBytes));
                        }
                        _receive = _ws.ReceiveAsync(new ArraySegment<byte>(_rx, _rxLen, _rx.Length - _rxLen), _stop.Token);
                    }
                    if (!_receive.IsCompleted) return;
                    if (_receive.IsFaulted || _receive.IsCanceled) { Fail(_receive.Exception); return; }
                    var r = _receive.Result;
                    _receive = null;
                    if (r.MessageType == WebSocketMessageType.Close)
                    {
                        int code = _ws.CloseStatus.HasValue ? (int)_ws.CloseStatus.Value : 1005;
                        string reason = _ws.CloseStatusDescription ?? "";
                        bool closing;
                        lock (_sendLock) closing = _closeWanted;
                        if (!closing) _close = _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None); // answer the server's close; best effort
                        Finish(code, reason);
                        return;
                    }
                    _rxLen += r.Count;
                    if (!r.EndOfMessage) continue;
                    int length = _rxLen;
                    _rxLen = 0;
                    if (r.MessageType == WebSocketMessageType.Text)
                    {
                        _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Error, Reason = "server sent a text frame; this client speaks msgpack only" });
                        continue;
                    }
                    // The receive buffer itself, not a copy: the next receive starts only in the next Step,
                    // which runs once this event was handed out and decoded (TryReceive's contract).
                    _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Message, Data = _rx, Count = length });
                    return;
                }
            }
            catch (Exception e) // a synchronous failure starting an operation
            {
                Fail(e);
            }
        }

        private void Fail(Exception e)
        {
            var inner = e is AggregateException && e.InnerException != null ? e.InnerException : e;
            _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Error, Reason = inner == null ? "connection failed" : inner.Message });
            Finish(1006, inner == null ? "" : inner.Message);
        }

        private void Finish(int code, string reason)
        {
            if (_done) return;
            _done = true;
            _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Closed, CloseCode = code, Reason = reason ?? "" });
            Abort();
        }

        private void Abort()
        {
            try
            {
                _stop.Cancel();
                lock (_sendLock) Monitor.PulseAll(_sendLock);
                if (_close == null) _ws.Abort();
                _ws.Dispose();
            }
            catch (Exception)
            {
                // already gone
            }
        }

        /// <summary>Lets the socket go; no event follows. After <see cref="Close"/> (a disabled component,
        /// which gets no more frames to pump the close) the frames still queued and the close frame go
        /// out in the background within 2 s, as a browser's WebSocket does; otherwise it is aborted at once.</summary>
        public void Dispose()
        {
            bool drain;
            lock (_sendLock) drain = _closeWanted && _open && !_done && _sendError == null;
            _done = true;
            if (drain)
            {
                var done = _sendDone;
                ThreadPool.QueueUserWorkItem(_ =>
                {
                    done.Wait(TimeSpan.FromSeconds(2)); // the sender sends what is queued, then the close frame
                    Thread.Sleep(100); // the close frame on its way before the socket goes
                    Abort();
                });
                return;
            }
            lock (_sendLock) _outbox.Clear();
            Abort();
        }
    }
}
