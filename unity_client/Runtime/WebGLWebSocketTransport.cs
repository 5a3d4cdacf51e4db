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

        /// <inheritdoc/>
        public long BufferedBytes { get { return _id > 0 ? DoodleStreamWs_BufferedAmount(_id) : 0; } }

        /// <inheritdoc/>
        public void Connect(Uri url, string token, int maxMessageBytes)
        {
            if (_id != 0) throw new InvalidOperationException("a transport connects once");
            _id = DoodleStreamWs_Connect(DoodleTransportUrls.WithToken(url, token), maxMessageBytes);
        }

        /// <inheritdoc/>
        public void Send(byte[] message)
        {
            if (_id <= 0 || DoodleStreamWs_Send(_id, message, message.Length) != 0)
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
            var buffer = new byte[Math.Max(length, 1)];
            int n = DoodleStreamWs_Pop(_id, buffer, buffer.Length);
            if (e.Kind == TransportEventKind.Message)
            {
                if (buffer.Length != n) Array.Resize(ref buffer, n);
                e.Data = buffer;
            }
            else
            {
                e.Reason = Encoding.UTF8.GetString(buffer, 0, n);
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
