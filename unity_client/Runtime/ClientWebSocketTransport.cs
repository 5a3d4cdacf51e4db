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
    /// .NET; not WebGL). It starts no thread, task or timer of its own: every call to
    /// <see cref="TryReceive"/> looks at the socket operations in flight (one receive, one send) and
    /// starts the next one, so everything happens as fast as the client is pumped.
    /// </summary>
    public sealed class ClientWebSocketTransport : IDoodleTransport
    {
        private readonly ClientWebSocket _ws = new ClientWebSocket();
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly Queue<byte[]> _outbox = new Queue<byte[]>();
        private readonly Queue<TransportEvent> _events = new Queue<TransportEvent>();
        private Task _connect, _send, _close;
        private Task<WebSocketReceiveResult> _receive;
        private byte[] _rx = new byte[64 * 1024];
        private int _rxLen;
        private int _maxMessageBytes;
        private long _buffered;
        private bool _open, _closeWanted, _done;
        private int _closeCode;
        private string _closeReason;

        /// <inheritdoc/>
        public long BufferedBytes { get { return _buffered; } }

        /// <inheritdoc/>
        public void Connect(Uri url, string token, int maxMessageBytes)
        {
            if (_connect != null) throw new InvalidOperationException("a transport connects once");
            _maxMessageBytes = maxMessageBytes;
            if (!string.IsNullOrEmpty(token)) _ws.Options.SetRequestHeader("Authorization", "Bearer " + token);
            _connect = _ws.ConnectAsync(url, _stop.Token);
        }

        /// <inheritdoc/>
        public void Send(byte[] message)
        {
            if (!_open || _closeWanted || _done) throw new InvalidOperationException("the socket is not open");
            _outbox.Enqueue(message);
            _buffered += message.Length;
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
            _closeWanted = true;
            _closeCode = code;
            _closeReason = reason;
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
                    _open = true;
                    _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Open });
                }
                if (_send != null && _send.IsCompleted)
                {
                    if (_send.IsFaulted || _send.IsCanceled) { Fail(_send.Exception); return; }
                    _send = null;
                }
                if (_send == null && _outbox.Count > 0)
                {
                    var frame = _outbox.Dequeue();
                    _buffered -= frame.Length;
                    _send = _ws.SendAsync(new ArraySegment<byte>(frame), WebSocketMessageType.Binary, true, _stop.Token);
                }
                else if (_send == null && _closeWanted && _close == null)
                {
                    _close = _ws.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeReason ?? "", _stop.Token);
                }
                if (_close != null && _close.IsCompleted && (_close.IsFaulted || _close.IsCanceled)) { Fail(_close.Exception); return; }
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
                        if (!_closeWanted) _close = _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None); // answer the server's close; best effort
                        Finish(code, reason);
                        return;
                    }
                    _rxLen += r.Count;
                    if (!r.EndOfMessage) continue;
                    var data = new byte[_rxLen];
                    Buffer.BlockCopy(_rx, 0, data, 0, _rxLen);
                    _rxLen = 0;
                    if (r.MessageType == WebSocketMessageType.Text)
                        _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Error, Reason = "server sent a text frame; this client speaks msgpack only" });
                    else
                        _events.Enqueue(new TransportEvent { Kind = TransportEventKind.Message, Data = data });
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
            bool drain = _closeWanted && _open && !_done;
            _done = true;
            if (drain)
            {
                _ = DrainAndCloseAsync();
                return;
            }
            _outbox.Clear();
            Abort();
        }

        private async Task DrainAndCloseAsync()
        {
            try
            {
                using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
                {
                    if (_send != null) await _send.ConfigureAwait(false);
                    while (_outbox.Count > 0)
                        await _ws.SendAsync(new ArraySegment<byte>(_outbox.Dequeue()), WebSocketMessageType.Binary, true, limit.Token).ConfigureAwait(false);
                    if (_close != null) await _close.ConfigureAwait(false);
                    else _close = _ws.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeReason ?? "", limit.Token);
                    await _close.ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                // the socket is going away anyway
            }
            finally
            {
                Abort();
            }
        }
    }
}
