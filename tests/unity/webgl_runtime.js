// Stands in for the parts of a Unity WebGL player (Emscripten) that a .jslib plugin uses, so that
// tests/test_unity_webgl.py can run unity_client's DoodleStreamWebSocket.jslib in Chromium.
//
// Like Emscripten, mergeInto() takes the library's functions as source text and defines them again
// at global scope as _Name (a function that reached for a variable of its .jslib file fails here as
// it would in a player), turns $Name entries into globals, and checks every __deps entry. The heap is
// a Uint8Array (HEAPU8) over an ArrayBuffer with a bump allocator (_malloc/_free); growMemory()
// replaces HEAPU8 with a larger copy, as memory growth does. window.unityCaller plays the C# side of
// WebGLWebSocketTransport.cs: strings and byte arrays go through the heap, as Unity marshals them.
'use strict';

var LibraryManager = { library: {} };
var HEAPU8 = new Uint8Array(new ArrayBuffer(1 << 20));
var heapTop = 8;
var unityRuntime = { freed: 0, merged: [] };

function _malloc(n) {
  var p = heapTop;
  heapTop += (n + 7) & ~7;
  if (heapTop > HEAPU8.length) growMemory(heapTop * 2);
  return p;
}

function _free(p) {
  unityRuntime.freed++; // a bump allocator: nothing to give back
}

function growMemory(bytes) {
  var bigger = new Uint8Array(new ArrayBuffer(Math.max(bytes, HEAPU8.length * 2)));
  bigger.set(HEAPU8);
  HEAPU8 = bigger;
}

function lengthBytesUTF8(s) {
  return new TextEncoder().encode(s).length;
}

function stringToUTF8(s, ptr, maxBytes) { // writes at most maxBytes - 1 bytes and a 0; returns the bytes written
  if (!(maxBytes > 0)) return 0;
  var bytes = new TextEncoder().encode(s);
  var n = Math.min(bytes.length, maxBytes - 1);
  while (n > 0 && n < bytes.length && (bytes[n] & 0xc0) === 0x80) n--; // never cut a character
  HEAPU8.set(bytes.subarray(0, n), ptr);
  HEAPU8[ptr + n] = 0;
  return n;
}

function UTF8ToString(ptr) {
  var end = ptr;
  while (HEAPU8[end] !== 0) end++;
  return new TextDecoder().decode(HEAPU8.slice(ptr, end));
}

function mergeInto(target, library) {
  var names = Object.keys(library);
  names.forEach(function (name) {
    if (name.endsWith('__deps')) {
      library[name].forEach(function (dep) {
        if (!(dep in library) && !(dep in target)) throw new Error(name + ' needs ' + dep + ', which is not defined');
      });
      return;
    }
    var value = library[name];
    target[name] = value;
    if (name.charAt(0) === '$') {
      window[name.slice(1)] = value;
    } else if (typeof value === 'function') {
      window['_' + name] = (0, eval)('(' + value.toString() + ')'); // from its text, as Emscripten does
      unityRuntime.merged.push(name);
    }
  });
}

// The C# side: what WebGLWebSocketTransport does through [DllImport("__Internal")].
window.unityCaller = {
  connect: function (url, maxMessageBytes) {
    var n = lengthBytesUTF8(url) + 1;
    var p = _malloc(n);
    stringToUTF8(url, p, n);
    var id = _DoodleStreamWs_Connect(p, maxMessageBytes);
    _free(p);
    return id;
  },
  send: function (id, bytes) {
    var p = _malloc(bytes.length);
    HEAPU8.set(bytes, p);
    var r = _DoodleStreamWs_Send(id, p, bytes.length);
    HEAPU8.fill(0xee, p, p + bytes.length); // the caller's array is reused: the socket must have copied it
    _free(p);
    return r;
  },
  close: function (id, code, reason) {
    var n = lengthBytesUTF8(reason) + 1;
    var p = _malloc(n);
    stringToUTF8(reason, p, n);
    _DoodleStreamWs_Close(id, code, p);
    _free(p);
  },
  buffered: function (id) { return _DoodleStreamWs_BufferedAmount(id); },
  free: function (id) { _DoodleStreamWs_Free(id); },
  // TryReceive: every event waiting, oldest first.
  poll: function (id) {
    var out = [];
    var kind;
    while ((kind = _DoodleStreamWs_NextKind(id)) >= 0) {
      var length = _DoodleStreamWs_NextLength(id);
      var code = _DoodleStreamWs_NextCode(id);
      var size = Math.max(length, 1);
      var p = _malloc(size);
      var n = _DoodleStreamWs_Pop(id, p, size);
      var ev = { kind: ['open', 'message', 'closed', 'error'][kind], code: code };
      if (kind === 1) ev.data = Array.from(HEAPU8.subarray(p, p + n));
      else ev.reason = new TextDecoder().decode(HEAPU8.slice(p, p + n));
      _free(p);
      out.push(ev);
    }
    return out;
  },
  // Polls every 10 ms (a frame) until an event of `kind` arrived; returns all events seen.
  until: function (id, kind, timeoutMs) {
    var seen = [];
    var started = Date.now();
    return new Promise(function (resolve, reject) {
      (function frame() {
        seen = seen.concat(window.unityCaller.poll(id));
        if (seen.some(function (e) { return e.kind === kind; })) return resolve(seen);
        if (Date.now() - started > timeoutMs) return reject(new Error('no ' + kind + ' event; saw ' + JSON.stringify(seen)));
        setTimeout(frame, 10);
      })();
    });
  },
};
