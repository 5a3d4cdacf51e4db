// The socket under a DoodleClient: a WebSocket that is polled, never calls back.

using System;

namespace Doodlestream
{
    /// <summary>What a <see cref="IDoodleTransport"/> reports.</summary>
    public enum TransportEventKind
    {
        /// <summary>The socket is open.</summary>
        Open,
        /// <summary>A whole binary message arrived (<see cref="TransportEvent.Data"/>).</summary>
        Message,
        /// <summary>The socket closed (<see cref="TransportEvent.CloseCode"/>, <see cref="TransportEvent.Reason"/>); nothing follows.</summary>
        Closed,
        /// <summary>The socket failed (<see cref="TransportEvent.Reason"/>); a <see cref="Closed"/> may follow.</summary>
        Error,
    }

    /// <summary>One thing that happened on a transport, in the order it happened.</summary>
    public struct TransportEvent
    {
        /// <summary>What happened.</summary>
        public TransportEventKind Kind;
        /// <summary>The message's bytes (<see cref="TransportEventKind.Message"/> only): its first
        /// <see cref="Count"/> bytes. It may be the transport's own buffer, valid until the next
        /// <see cref="IDoodleTransport.TryReceive"/> (the client decodes it before that).</summary>
        public byte[] Data;
        /// <summary>Bytes of <see cref="Data"/> that are the message; 0 means all of it.</summary>
        public int Count;
        /// <summary>The WebSocket close code (<see cref="TransportEventKind.Closed"/>; 1006 when the connection was lost without one).</summary>
        public int CloseCode;
        /// <summary>The close reason, or what went wrong.</summary>
        public string Reason;
    }

    /// <summary>
    /// A WebSocket for a <see cref="DoodleClient"/>: it never calls back; the client polls it
    /// (<see cref="TryReceive"/>) from the thread that pumps it (a MonoBehaviour's Update), one call
    /// at a time. That is what Unity's WebGL players allow.
    /// </summary>
    /// <remarks>The client calls <see cref="Dispose"/> only once the transport reported
    /// <see cref="TransportEventKind.Closed"/>, or the close timed out, or the game is going away (a
    /// disabled or destroyed component, which gets no more frames to pump): a transport should then
    /// still send what it holds and its close frame, in the background, as a browser's WebSocket does.</remarks>
    /// <remarks>Implementations: <see cref="ClientWebSocketTransport"/> (native players, any .NET)
    /// and <c>WebGLWebSocketTransport</c> (WebGL players: the browser's WebSocket through
    /// <c>Plugins/WebGL/DoodleStreamWebSocket.jslib</c>).</remarks>
    public interface IDoodleTransport : IDisposable
    {
        /// <summary>Starts opening the socket; <see cref="TransportEventKind.Open"/> or an error follows.
        /// <paramref name="token"/> (may be null) goes as <c>Authorization: Bearer</c> where the platform
        /// allows headers, else as <c>?token=</c>. Messages over <paramref name="maxMessageBytes"/> end the connection.</summary>
        void Connect(Uri url, string token, int maxMessageBytes);

        /// <summary>Queues one binary message, the <paramref name="count"/> bytes of <paramref name="buffer"/>
        /// from <paramref name="offset"/>; messages go out in order. The caller reuses the buffer at once:
        /// copy it (into a pooled buffer: this is called every frame while drawing). Throws
        /// <see cref="InvalidOperationException"/> when the socket is not open.</summary>
        void Send(byte[] buffer, int offset, int count);

        /// <summary>Bytes queued by <see cref="Send"/> and not yet handed to the network.</summary>
        long BufferedBytes { get; }

        /// <summary>Starts the close handshake after what is queued; <see cref="TransportEventKind.Closed"/> follows.</summary>
        void Close(int code, string reason);

        /// <summary>The next event, if one is waiting; called from the pumping thread only.</summary>
        bool TryReceive(out TransportEvent e);
    }

    /// <summary>Helpers for <see cref="IDoodleTransport"/> implementations.</summary>
    public static class DoodleTransportUrls
    {
        /// <summary><paramref name="url"/> with <c>token=</c><paramref name="token"/> (escaped) added to its
        /// query, for sockets that cannot send an <c>Authorization</c> header (a browser's). Unchanged
        /// when the token is empty or the query already has a <c>token</c> parameter.</summary>
        public static string WithToken(Uri url, string token)
        {
            return With(url, "token", token);
        }

        /// <summary><paramref name="url"/> with <c>room=</c><paramref name="code"/> added to its query (v1.2): a
        /// balancer sends the socket to the server holding that room (the project's deploy/haproxy.cfg).
        /// Unchanged when the code is empty or the query already has a <c>room</c> parameter.</summary>
        public static string WithRoom(Uri url, string code)
        {
            return With(url, "room", code);
        }

        private static string With(Uri url, string key, string value)
        {
            if (url == null) throw new ArgumentNullException("url");
            string query = url.Query.TrimStart('?');
            if (string.IsNullOrEmpty(value)) return url.AbsoluteUri;
            foreach (var part in query.Split('&'))
                if (part == key || part.StartsWith(key + "=", StringComparison.Ordinal)) return url.AbsoluteUri;
            var b = new UriBuilder(url) { Query = (query.Length > 0 ? query + "&" : "") + key + "=" + Uri.EscapeDataString(value) };
            return b.Uri.AbsoluteUri;
        }
    }
}
