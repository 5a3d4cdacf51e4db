// The browser side of WebGLWebSocketTransport.cs: WebSockets for a Unity WebGL player.
//
// Contract: DoodleStreamWs_Connect opens a WebSocket (binaryType arraybuffer) and returns its id.
// Everything the socket reports is queued here, in order, as events the C# side polls from Update
// (nothing calls into C#): kind 0 open, 1 message (bytes), 2 closed (code, reason; last event),
// 3 error (reason). NextKind/NextLength/NextCode describe the oldest event (-1: none); Pop copies
// it into the caller's buffer (message bytes, or the reason as UTF-8) and drops it. A message over
// the connect call's maxMessageBytes is not queued: an error is, and the socket closes (1000, as
// browsers send no 1009).
// Free closes a socket that is still open (1000, after what it holds) and forgets it.
// Unity copies these functions as text into the player (Emscripten library rules): they may use
// only their arguments, the $DoodleStreamWs object and Emscripten's runtime (HEAPU8, UTF8ToString,
// stringToUTF8, lengthBytesUTF8), never variables of this file.
// Pointers arrive as signed 32-bit ints: a heap over 2 GB (Unity 6 allows 4 GB) makes them negative,
// so every pointer is read as `ptr >>> 0` (unsigned) before it indexes HEAPU8 or is read as a string.

var DoodleStreamWebSocketLibrary = {
  $DoodleStreamWs: {
    sockets: {},
    nextId: 1,
  },

  DoodleStreamWs_Connect__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_Connect: function (urlPtr, maxMessageBytes) {
    var url = UTF8ToString(urlPtr >>> 0);
    var id = DoodleStreamWs.nextId++;
    var s = { ws: null, events: [], max: maxMessageBytes, ended: false };
    DoodleStreamWs.sockets[id] = s;
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) { // a malformed URL throws at once
      s.events.push({ kind: 3, reason: 'cannot open ' + url + ': ' + (e && e.message ? e.message : String(e)) });
      s.events.push({ kind: 2, code: 1006, reason: '' });
      s.ended = true;
      return id;
    }
    s.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = function () {
      s.events.push({ kind: 0 });
    };
    ws.onmessage = function (e) {
      if (s.ended) return;
      if (typeof e.data === 'string') {
        s.events.push({ kind: 3, reason: 'server sent a text frame; this client speaks msgpack only' });
        return;
      }
      var data = new Uint8Array(e.data);
      if (data.length > s.max) {
        s.events.push({ kind: 3, reason: 'server message of ' + data.length + ' bytes, over the limit of ' + s.max });
        ws.close(1000, 'message too big'); // browsers send only 1000 and 3000-4999
        return;
      }
      s.events.push({ kind: 1, data: data });
    };
    ws.onerror = function () {
      if (!s.ended) s.events.push({ kind: 3, reason: 'WebSocket error on ' + url });
    };
    ws.onclose = function (e) {
      if (s.ended) return;
      s.ended = true;
      s.events.push({ kind: 2, code: e.code, reason: e.reason || '' });
    };
    return id;
  },

  DoodleStreamWs_Send__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_Send: function (id, ptr, length) {
    var s = DoodleStreamWs.sockets[id];
    if (!s || !s.ws || s.ws.readyState !== 1) return -1;
    // A copy: the player's heap may move (memory growth) or be shared (threads).
    ptr = ptr >>> 0;
    s.ws.send(HEAPU8.slice(ptr, ptr + length));
    return 0;
  },

  DoodleStreamWs_BufferedAmount__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_BufferedAmount: function (id) {
    var s = DoodleStreamWs.sockets[id];
    return s && s.ws ? s.ws.bufferedAmount : 0;
  },

  DoodleStreamWs_Close__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_Close: function (id, code, reasonPtr) {
    var s = DoodleStreamWs.sockets[id];
    if (!s || !s.ws || s.ended) return;
    try {
      s.ws.close(code, UTF8ToString(reasonPtr >>> 0));
    } catch (e) { // a code or reason the browser refuses: close plainly
      s.ws.close();
    }
  },

  DoodleStreamWs_NextKind__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_NextKind: function (id) {
    var s = DoodleStreamWs.sockets[id];
    return s && s.events.length ? s.events[0].kind : -1;
  },

  DoodleStreamWs_NextLength__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_NextLength: function (id) {
    var s = DoodleStreamWs.sockets[id];
    if (!s || !s.events.length) return 0;
    var ev = s.events[0];
    return ev.kind === 1 ? ev.data.length : lengthBytesUTF8(ev.reason || '') + 1;
  },

  DoodleStreamWs_NextCode__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_NextCode: function (id) {
    var s = DoodleStreamWs.sockets[id];
    return s && s.events.length ? s.events[0].code || 0 : 0;
  },

  DoodleStreamWs_Pop__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_Pop: function (id, bufferPtr, bufferLength) {
    var s = DoodleStreamWs.sockets[id];
    if (!s || !s.events.length) return 0;
    var ev = s.events.shift();
    bufferPtr = bufferPtr >>> 0;
    if (ev.kind === 1) {
      var n = Math.min(ev.data.length, bufferLength);
      HEAPU8.set(ev.data.subarray(0, n), bufferPtr);
      return n;
    }
    if (bufferLength <= 0) return 0;
    return stringToUTF8(ev.reason || '', bufferPtr, bufferLength);
  },

  DoodleStreamWs_Free__deps: ['$DoodleStreamWs'],
  DoodleStreamWs_Free: function (id) {
    var s = DoodleStreamWs.sockets[id];
    if (!s) return;
    delete DoodleStreamWs.sockets[id];
    s.ended = true;
    if (s.ws && (s.ws.readyState === 0 || s.ws.readyState === 1)) {
      try { s.ws.close(1000, 'client gone'); } catch (e) { /* closing already */ }
    }
  },
};

mergeInto(LibraryManager.library, DoodleStreamWebSocketLibrary);
