// IDoodleTransport over the browser's WebSocket, for Unity WebGL players (Plugins/WebGL/DoodleStreamWebSocket.jslib).

#if UNITY_WEBGL && !UNITY_EDITOR
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Doodlestream
{
    /// <summary>
    /// A <see cref="IDoodleTransport"/> over the browser's WebSocket (binaryType arraybuffer), for
    /// WebGL players. The plugin queues what the socket reports in JavaScript; <see cref="TryReceive"/>
    /// polls that queue, so nothing calls into C# from JavaScript. Browsers cannot set headers on a
    /// WebSocket: the token goes in the URL as <c>?token=</c>.
    /// </summary>
    public sealed class WebGLWebSocketTransport : IDoodleTransport
    {
        [DllImport("__Internal")] private static extern int DoodleStreamWs_Connect(string url, int maxMessageBytes);
        [DllImport("__Internal")] private static extern int DoodleStreamWs_Send(int id, byte[] data, int length);
        [DllImport("__Internal")] private static extern int DoodleStreamWs_BufferedAmount(int id);
        [DllImport("__Internal")] private static extern void DoodleStreamWs_Close(int id, int code, string reason);
        [DllImport("__Internal")] private static extern int DoodleStreamWs_NextKind(int id);
        [DllImport("__Internal")] private static extern int DoodleStreamWs_NextLength(int id);
        [DllImport("__Internal")] private static extern int DoodleStreamWs_NextCode(int id);
        [DllImport("__Internal")] private static extern int DoodleStreamWs_Pop(int id, byte[] buffer, int length);
        [DllImport("__Internal")] private static extern void DoodleStreamWs_Free(int id);

        private int _id;
        private byte[] _rx = new byte[4096]; // reused for every event: a message is decoded before the next TryReceive
        private byte[] _tx = new byte[0]; // for a message that does not start at offset 0 (the client's never do)

        /// <inheritdoc/>
        public long BufferedBytes { get { return _id > 0 ? DoodleStreamWs_BufferedAmount(_id) : 0; } }

        /// <inheritdoc/>
        public void Connect(Uri url, string token, int maxMessageBytes)
        {
            if (_id != 0) throw new InvalidOperationException("a transport connects once");
            _id = DoodleStreamWs_Connect(DoodleTransportUrls.WithToken(url, token), maxMessageBytes);
        }

        /// <inheritdoc/>
        public void Send(byte[] buffer, int offset, int count)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            if (offset < 0 || count < 0 || offset > buffer.Length - count) throw new ArgumentOutOfRangeException("count");
            if (offset != 0)
            {
                if (_tx.Length < count) _tx = new byte[count];
                Buffer.BlockCopy(buffer, offset, _tx, 0, count);
                buffer = _tx;
            }
            // The plugin copies the bytes into a JavaScript ArrayBuffer before it returns.
            if (_id <= 0 || DoodleStreamWs_Send(_id, buffer, count) != 0)
                throw new InvalidOperationException("the socket is not open");
        }

        /// <inheritdoc/>
        public void Close(int code, string reason)
        {
            if (_id > 0) DoodleStreamWs_Close(_id, code, reason ?? "");
        }

        /// <inheritdoc/>
        public bool TryReceive(out TransportEvent e)
        {
            e = default(TransportEvent);
            if (_id <= 0) return false;
            int kind = DoodleStreamWs_NextKind(_id);
            if (kind < 0) return false;
            int length = DoodleStreamWs_NextLength(_id);
            e.Kind = (TransportEventKind)kind;
            e.CloseCode = DoodleStreamWs_NextCode(_id);
            if (_rx.Length < length) _rx = new byte[Math.Max(length, _rx.Length * 2)];
            int n = DoodleStreamWs_Pop(_id, _rx, _rx.Length);
            if (e.Kind == TransportEventKind.Message)
            {
                e.Data = _rx;
                e.Count = n;
            }
            else
            {
                e.Reason = Encoding.UTF8.GetString(_rx, 0, n);
            }
            return true;
        }

        /// <summary>Lets the socket go: one still open is closed (1000) after what it holds; no event follows.</summary>
        public void Dispose()
        {
            if (_id > 0) DoodleStreamWs_Free(_id);
            _id = -1;
        }
    }
}
#endif
