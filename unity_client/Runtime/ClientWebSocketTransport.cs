// IDoodleTransport over System.Net.WebSockets.ClientWebSocket, for native players and any .NET.

using System;
using System.Collections.Generic;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;

namespace Doodlestream
{
    /// <summary>
    /// A <see cref="IDoodleTransport"/> over <see cref="ClientWebSocket"/> (native players and any
    /// .NET; not WebGL, which has no threads: there <c>WebGLWebSocketTransport</c> is used). Once open,
    /// one background thread sends and one receives; the pumping thread only moves pooled buffers in
    /// and out of two queues, so it allocates nothing per frame while drawing and nothing per message
    /// received (a <c>SendAsync</c> or <c>ReceiveAsync</c> there would allocate its task every time).
    /// </summary>
    public sealed class ClientWebSocketTransport : IDoodleTransport
    {
        /// <summary>Largest buffer kept in the pool for reuse, in bytes (a sprite PNG is not kept).</summary>
        public const int MaxPooledBytes = 64 * 1024;

        private struct Frame
        {
            public byte[] Buffer;
            public int Count;
        }

        private readonly ClientWebSocket _ws = new ClientWebSocket();
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly object _lock = new object(); // guards every field below
        private readonly Queue<Frame> _outbox = new Queue<Frame>(64);
        private readonly Queue<TransportEvent> _events = new Queue<TransportEvent>(64);
        private readonly Stack<byte[]> _pool = new Stack<byte[]>();
        private readonly ManualResetEventSlim _sendDone = new ManualResetEventSlim();
        private Task _connect;
        private byte[] _lent; // the buffer of the message TryReceive handed out last: back to the pool on the next call
        private int _maxMessageBytes;
        private long _buffered;
        private bool _open, _closeWanted, _done;
        private int _closeCode;
        private string _closeReason;

        /// <inheritdoc/>
        public long BufferedBytes { get { lock (_lock) return _buffered; } }

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
            lock (_lock)
            {
                if (!_open || _closeWanted || _done) throw new InvalidOperationException("the socket is not open");
                byte[] pooled = Rent(count);
                Buffer.BlockCopy(buffer, offset, pooled, 0, count);
                _outbox.Enqueue(new Frame { Buffer = pooled, Count = count });
                _buffered += count;
                Monitor.PulseAll(_lock);
            }
        }

        /// <inheritdoc/>
        public void Close(int code, string reason)
        {
            lock (_lock)
            {
                if (_done) return;
                if (!_open)
                {
                    Finish(1000, reason);
                    return;
                }
                _closeCode = code;
                _closeReason = reason;
                _closeWanted = true;
                Monitor.PulseAll(_lock);
            }
        }

        /// <inheritdoc/>
        public bool TryReceive(out TransportEvent e)
        {
            lock (_lock)
            {
                if (_lent != null)
                {
                    Return(_lent);
                    _lent = null;
                }
                if (!_open && !_done && _connect != null && _connect.IsCompleted)
                {
                    if (_connect.IsFaulted || _connect.IsCanceled) Fail(_connect.Exception);
                    else Opened();
                }
                if (_events.Count > 0)
                {
                    e = _events.Dequeue();
                    if (e.Kind == TransportEventKind.Message) _lent = e.Data;
                    return true;
                }
            }
            e = default(TransportEvent);
            return false;
        }

        // Under _lock: the socket is open; the send and receive threads start.
        private void Opened()
        {
            _open = true;
            _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Open });
            new Thread(SendLoop) { IsBackground = true, Name = "doodlestream send" }.Start();
            new Thread(ReceiveLoop) { IsBackground = true, Name = "doodlestream receive" }.Start();
        }

        // Under _lock: a buffer of at least `count` bytes, from the pool when one is big enough.
        private byte[] Rent(int count)
        {
            return _pool.Count > 0 && _pool.Peek().Length >= count ? _pool.Pop() : new byte[Math.Max(count, 256)];
        }

        // Under _lock.
        private void Return(byte[] buffer)
        {
            if (_pool.Count < 64 && buffer.Length <= MaxPooledBytes) _pool.Push(buffer);
        }

        // The send thread: the queued frames in order, then the close frame once asked for.
        private void SendLoop()
        {
            try
            {
                while (true)
                {
                    Frame f;
                    lock (_lock)
                    {
                        while (_outbox.Count == 0 && !_closeWanted && !_stop.IsCancellationRequested) Monitor.Wait(_lock);
                        if (_stop.IsCancellationRequested) return;
                        if (_outbox.Count == 0) break; // close wanted, everything sent
                        f = _outbox.Dequeue();
                    }
                    _ws.SendAsync(new ArraySegment<byte>(f.Buffer, 0, f.Count), WebSocketMessageType.Binary, true, _stop.Token).GetAwaiter().GetResult();
                    lock (_lock)
                    {
                        _buffered -= f.Count;
                        Return(f.Buffer);
                    }
                }
                _ws.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeReason ?? "", _stop.Token).GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                lock (_lock) if (!_stop.IsCancellationRequested) Fail(e);
            }
            finally
            {
                _sendDone.Set();
            }
        }

        // The receive thread: whole messages, copied into pooled buffers and queued for TryReceive.
        private void ReceiveLoop()
        {
            var rx = new byte[64 * 1024];
            int len = 0;
            try
            {
                while (true)
                {
                    if (len == rx.Length)
                    {
                        if (len >= _maxMessageBytes)
                        {
                            lock (_lock) Fail(new System.IO.InvalidDataException("server message larger than " + _maxMessageBytes + " bytes"));
                            return;
                        }
                        Array.Resize(ref rx, (int)Math.Min((long)rx.Length * 2, _maxMessageBytes));
                    }
                    var r = _ws.ReceiveAsync(new ArraySegment<byte>(rx, len, rx.Length - len), _stop.Token).GetAwaiter().GetResult();
                    if (r.MessageType == WebSocketMessageType.Close)
                    {
                        int code = _ws.CloseStatus.HasValue ? (int)_ws.CloseStatus.Value : 1005;
                        string reason = _ws.CloseStatusDescription ?? "";
                        bool answer;
                        lock (_lock) answer = !_closeWanted;
                        if (answer) // answer the server's close; best effort
                        {
                            try
                            {
                                _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).Wait(2000);
                            }
                            catch (Exception)
                            {
                                // going away anyway
                            }
                        }
                        lock (_lock) Finish(code, reason);
                        return;
                    }
                    len += r.Count;
                    if (!r.EndOfMessage) continue;
                    lock (_lock)
                    {
                        if (r.MessageType == WebSocketMessageType.Text)
                        {
                            _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Error, Reason = "server sent a text frame; this client speaks msgpack only" });
                        }
                        else
                        {
                            var buffer = Rent(len);
                            Buffer.BlockCopy(rx, 0, buffer, 0, len);
                            _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Message, Data = buffer, Count = len });
                        }
                    }
                    len = 0;
                }
            }
            catch (Exception e)
            {
                lock (_lock) if (!_stop.IsCancellationRequested) Fail(e);
            }
        }

        // Under _lock.
        private void Fail(Exception e)
        {
            if (_done) return;
            var inner = e is AggregateException && e.InnerException != null ? e.InnerException : e;
            _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Error, Reason = inner == null ? "connection failed" : inner.Message });
            Finish(1006, inner == null ? "" : inner.Message);
        }

        // Under _lock.
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
                lock (_lock) Monitor.PulseAll(_lock);
                _ws.Abort();
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
            lock (_lock)
            {
                drain = _closeWanted && _open && !_done;
                _done = true;
                if (!drain) _outbox.Clear();
            }
            if (!drain)
            {
                Abort();
                return;
            }
            var sent = _sendDone;
            ThreadPool.QueueUserWorkItem(_ =>
            {
                sent.Wait(TimeSpan.FromSeconds(2)); // the send thread sends what is queued, then the close frame
                Abort();
            });
        }
    }
}
