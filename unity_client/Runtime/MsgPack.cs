// A small msgpack codec for the subset of msgpack that doodlestream's protocol v1 uses:
// maps with string keys, arrays, str, bin, every int/uint width, float32/float64, bool
// and nil. No ext types, no timestamps. No UnityEngine dependency.
//
// Decoding is defensive: every length is checked against the bytes that are left before
// anything is allocated, nesting is bounded, and truncated or malformed input always ends
// in a MsgPackException (never an IndexOutOfRangeException, never a hang).

using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;

namespace Doodlestream.MsgPack
{
    /// <summary>The input is not valid msgpack (truncated, malformed, or outside the supported subset).</summary>
    public sealed class MsgPackException : FormatException
    {
        /// <summary>Creates the exception with a message saying what was wrong and where.</summary>
        public MsgPackException(string message) : base(message) { }
    }

    /// <summary>
    /// Object-level entry points: <see cref="Serialize"/> turns plain .NET values into msgpack and
    /// <see cref="Deserialize(byte[])"/> turns msgpack into plain .NET values.
    /// </summary>
    /// <remarks>
    /// Decoded values: nil -> <c>null</c>, bool -> <see cref="bool"/>, any integer -> <see cref="long"/>
    /// (or <see cref="ulong"/> above <see cref="long.MaxValue"/>), float32 -> <see cref="float"/>,
    /// float64 -> <see cref="double"/>, str -> <see cref="string"/>, bin -> <c>byte[]</c>,
    /// array -> <c>object[]</c>, map -> <c>Dictionary&lt;string, object&gt;</c> (keys must be strings).
    /// </remarks>
    public static class MsgPackCodec
    {
        /// <summary>Deepest nesting of arrays/maps accepted, when encoding and when decoding.</summary>
        public const int MaxDepth = 64;

        /// <summary>Encodes <paramref name="value"/> (see <see cref="MsgPackWriter.WriteValue"/> for the types accepted).</summary>
        public static byte[] Serialize(object value)
        {
            var w = new MsgPackWriter();
            w.WriteValue(value);
            return w.ToArray();
        }

        /// <summary>Decodes exactly one value that fills the whole of <paramref name="data"/>.</summary>
        /// <exception cref="MsgPackException">The bytes are truncated, malformed, carry trailing data or use an unsupported type.</exception>
        public static object Deserialize(byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            return Deserialize(data, 0, data.Length);
        }

        /// <summary>Decodes exactly one value that fills <paramref name="count"/> bytes from <paramref name="offset"/>.</summary>
        /// <exception cref="MsgPackException">The bytes are truncated, malformed, carry trailing data or use an unsupported type.</exception>
        public static object Deserialize(byte[] data, int offset, int count)
        {
            var r = new MsgPackReader(data, offset, count);
            object value = r.ReadValue();
            if (r.Remaining != 0)
                throw new MsgPackException("msgpack: " + r.Remaining + " unexpected bytes after the value at offset " + r.Position);
            return value;
        }
    }

    /// <summary>
    /// Writes msgpack into a growing buffer, always in the smallest encoding (as the reference
    /// implementations do). Use the typed methods to build frames without boxing.
    /// </summary>
    public sealed class MsgPackWriter
    {
        private byte[] _buf;
        private int _len;
        private int _depth;

        /// <summary>Creates a writer with an initial buffer of <paramref name="capacity"/> bytes.</summary>
        public MsgPackWriter(int capacity = 256)
        {
            _buf = new byte[Math.Max(16, capacity)];
        }

        /// <summary>Bytes written so far.</summary>
        public int Length { get { return _len; } }

        /// <summary>The writer's own buffer: its first <see cref="Length"/> bytes are what was written (valid until the next write or <see cref="Clear"/>).</summary>
        public byte[] GetBuffer() { return _buf; }

        /// <summary>A copy of the bytes written so far.</summary>
        public byte[] ToArray()
        {
            var a = new byte[_len];
            Buffer.BlockCopy(_buf, 0, a, 0, _len);
            return a;
        }

        /// <summary>Forgets what was written, keeping the buffer for reuse.</summary>
        public void Clear()
        {
            _len = 0;
            _depth = 0;
        }

        private void Ensure(int extra)
        {
            if (_len + extra <= _buf.Length) return;
            long want = Math.Max((long)_buf.Length * 2, (long)_len + extra);
            if (want > int.MaxValue) throw new InvalidOperationException("msgpack: message larger than 2 GiB");
            Array.Resize(ref _buf, (int)want);
        }

        private void Byte(byte b)
        {
            Ensure(1);
            _buf[_len++] = b;
        }

        private void BigEndian(byte marker, ulong v, int bytes)
        {
            Ensure(1 + bytes);
            _buf[_len++] = marker;
            for (int i = bytes - 1; i >= 0; i--) _buf[_len++] = (byte)(v >> (8 * i));
        }

        /// <summary>Writes nil.</summary>
        public void WriteNil() { Byte(0xc0); }

        /// <summary>Writes a bool.</summary>
        public void WriteBool(bool v) { Byte(v ? (byte)0xc3 : (byte)0xc2); }

        /// <summary>Writes a signed integer in the smallest format.</summary>
        public void WriteInt(long v)
        {
            if (v >= 0) { WriteUInt((ulong)v); return; }
            if (v >= -32) Byte((byte)(sbyte)v);
            else if (v >= sbyte.MinValue) BigEndian(0xd0, (ulong)v, 1);
            else if (v >= short.MinValue) BigEndian(0xd1, (ulong)v, 2);
            else if (v >= int.MinValue) BigEndian(0xd2, (ulong)v, 4);
            else BigEndian(0xd3, (ulong)v, 8);
        }

        /// <summary>Writes an unsigned integer in the smallest format.</summary>
        public void WriteUInt(ulong v)
        {
            if (v <= 0x7f) Byte((byte)v);
            else if (v <= byte.MaxValue) BigEndian(0xcc, v, 1);
            else if (v <= ushort.MaxValue) BigEndian(0xcd, v, 2);
            else if (v <= uint.MaxValue) BigEndian(0xce, v, 4);
            else BigEndian(0xcf, v, 8);
        }

        /// <summary>Writes a float32 (a bit-cast: nothing allocated).</summary>
        public void WriteFloat(float v)
        {
            BigEndian(0xca, new FloatBits { Float = v }.Bits, 4);
        }

        /// <summary>Writes a float64.</summary>
        public void WriteDouble(double v)
        {
            BigEndian(0xcb, (ulong)BitConverter.DoubleToInt64Bits(v), 8);
        }

        /// <summary>Writes a UTF-8 str (nil when <paramref name="s"/> is null).</summary>
        public void WriteString(string s)
        {
            if (s == null) { WriteNil(); return; }
            int n = Encoding.UTF8.GetByteCount(s);
            if (n <= 31) Byte((byte)(0xa0 | n));
            else if (n <= byte.MaxValue) BigEndian(0xd9, (ulong)n, 1);
            else if (n <= ushort.MaxValue) BigEndian(0xda, (ulong)n, 2);
            else BigEndian(0xdb, (ulong)n, 4);
            Ensure(n);
            _len += Encoding.UTF8.GetBytes(s, 0, s.Length, _buf, _len);
        }

        /// <summary>Writes a bin (nil when <paramref name="data"/> is null).</summary>
        public void WriteBinary(byte[] data)
        {
            if (data == null) { WriteNil(); return; }
            WriteBinary(data, 0, data.Length);
        }

        /// <summary>Writes <paramref name="count"/> bytes from <paramref name="offset"/> as one bin.</summary>
        public void WriteBinary(byte[] data, int offset, int count)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset > data.Length - count) throw new ArgumentOutOfRangeException("count");
            if (count <= byte.MaxValue) BigEndian(0xc4, (ulong)count, 1);
            else if (count <= ushort.MaxValue) BigEndian(0xc5, (ulong)count, 2);
            else BigEndian(0xc6, (ulong)count, 4);
            Ensure(count);
            Buffer.BlockCopy(data, offset, _buf, _len, count);
            _len += count;
        }

        /// <summary>Starts an array of <paramref name="count"/> values; write them next.</summary>
        public void WriteArrayHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            if (count <= 15) Byte((byte)(0x90 | count));
            else if (count <= ushort.MaxValue) BigEndian(0xdc, (ulong)count, 2);
            else BigEndian(0xdd, (ulong)count, 4);
        }

        /// <summary>Starts a map of <paramref name="count"/> pairs; write key, value, key, value... next.</summary>
        public void WriteMapHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            if (count <= 15) Byte((byte)(0x80 | count));
            else if (count <= ushort.MaxValue) BigEndian(0xde, (ulong)count, 2);
            else BigEndian(0xdf, (ulong)count, 4);
        }

        /// <summary>
        /// Writes any supported value: null, bool, every integer type, float, double, string, byte[],
        /// <c>ArraySegment&lt;byte&gt;</c> (as bin), <see cref="IDictionary"/> with string keys (as map),
        /// and any other <see cref="IList"/> such as <c>float[]</c> or <c>List&lt;object&gt;</c> (as array).
        /// </summary>
        /// <exception cref="ArgumentException">A value of another type, a non-string map key, or nesting deeper than <see cref="MsgPackCodec.MaxDepth"/>.</exception>
        public void WriteValue(object value)
        {
            if (value == null) { WriteNil(); return; }
            if (value is bool) { WriteBool((bool)value); return; }
            if (value is string) { WriteString((string)value); return; }
            if (value is byte[]) { WriteBinary((byte[])value); return; }
            if (value is ArraySegment<byte>)
            {
                var seg = (ArraySegment<byte>)value;
                WriteBinary(seg.Array, seg.Offset, seg.Count);
                return;
            }
            if (value is int) { WriteInt((int)value); return; }
            if (value is long) { WriteInt((long)value); return; }
            if (value is float) { WriteFloat((float)value); return; }
            if (value is double) { WriteDouble((double)value); return; }
            if (value is sbyte) { WriteInt((sbyte)value); return; }
            if (value is short) { WriteInt((short)value); return; }
            if (value is byte) { WriteUInt((byte)value); return; }
            if (value is ushort) { WriteUInt((ushort)value); return; }
            if (value is uint) { WriteUInt((uint)value); return; }
            if (value is ulong) { WriteUInt((ulong)value); return; }
            if (value is IDictionary)
            {
                var map = (IDictionary)value;
                Enter();
                WriteMapHeader(map.Count);
                foreach (DictionaryEntry e in map)
                {
                    if (!(e.Key is string))
                        throw new ArgumentException("msgpack: map keys must be strings, got " + (e.Key == null ? "null" : e.Key.GetType().Name));
                    WriteString((string)e.Key);
                    WriteValue(e.Value);
                }
                _depth--;
                return;
            }
            if (value is IList)
            {
                var list = (IList)value;
                Enter();
                WriteArrayHeader(list.Count);
                foreach (object item in list) WriteValue(item);
                _depth--;
                return;
            }
            throw new ArgumentException("msgpack: cannot encode a value of type " + value.GetType().FullName);
        }

        private void Enter()
        {
            if (++_depth > MsgPackCodec.MaxDepth)
            {
                _depth = 0;
                throw new ArgumentException("msgpack: value nested deeper than " + MsgPackCodec.MaxDepth + " levels (a cycle?)");
            }
        }
    }

    /// <summary>Reads msgpack values from a byte range, checking every length against what is left.</summary>
    public sealed class MsgPackReader
    {
        private static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        private readonly byte[] _data;
        private readonly int _start;
        private readonly int _end;
        private int _pos;
        private int _depth;

        /// <summary>Reads from <paramref name="count"/> bytes of <paramref name="data"/> starting at <paramref name="offset"/>.</summary>
        public MsgPackReader(byte[] data, int offset, int count)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset > data.Length - count) throw new ArgumentOutOfRangeException("count");
            _data = data;
            _start = offset;
            _pos = offset;
            _end = offset + count;
        }

        /// <summary>Bytes not read yet.</summary>
        public int Remaining { get { return _end - _pos; } }

        /// <summary>Offset of the next byte, relative to the start of the range.</summary>
        public int Position { get { return _pos - _start; } }

        private MsgPackException Truncated(int need)
        {
            return new MsgPackException("msgpack: truncated input: needs " + need + " more bytes at offset " + Position + " but " + Remaining + " are left");
        }

        private void Need(long n)
        {
            if (n > Remaining) throw Truncated((int)Math.Min(n, int.MaxValue));
        }

        private ulong BigEndian(int bytes)
        {
            Need(bytes);
            ulong v = 0;
            for (int i = 0; i < bytes; i++) v = (v << 8) | _data[_pos++];
            return v;
        }

        private int Length(int bytes)
        {
            ulong n = BigEndian(bytes);
            if (n > int.MaxValue) throw new MsgPackException("msgpack: length " + n + " at offset " + Position + " is too large");
            return (int)n;
        }

        // ---- streaming reads, for decoders that build no maps (GuessesMessage.Decode): nothing allocated

        /// <summary>The next byte (a value's format marker), not consumed.</summary>
        public byte Peek()
        {
            Need(1);
            return _data[_pos];
        }

        /// <summary>Consumes a nil and returns true, or returns false when the next value is not nil.</summary>
        public bool TryReadNil()
        {
            if (Peek() != 0xc0) return false;
            _pos++;
            return true;
        }

        /// <summary>Reads a map header: the number of key/value pairs that follow.</summary>
        public int ReadMapHeader()
        {
            byte b = Peek();
            int at = Position;
            _pos++;
            if ((b & 0xf0) == 0x80) return b & 0x0f;
            if (b == 0xde) return Length(2);
            if (b == 0xdf) return Length(4);
            throw new MsgPackException("msgpack: expected a map at offset " + at);
        }

        /// <summary>Reads an array header: the number of values that follow.</summary>
        public int ReadArrayHeader()
        {
            byte b = Peek();
            int at = Position;
            _pos++;
            if ((b & 0xf0) == 0x90) return b & 0x0f;
            if (b == 0xdc) return Length(2);
            if (b == 0xdd) return Length(4);
            throw new MsgPackException("msgpack: expected an array at offset " + at);
        }

        /// <summary>Reads a str header and skips its bytes, which lie at <paramref name="offset"/> (in the
        /// reader's array), <paramref name="length"/> long; nothing is decoded.</summary>
        public void ReadStringBytes(out int offset, out int length)
        {
            byte b = Peek();
            int at = Position;
            _pos++;
            if ((b & 0xe0) == 0xa0) length = b & 0x1f;
            else if (b == 0xd9) length = Length(1);
            else if (b == 0xda) length = Length(2);
            else if (b == 0xdb) length = Length(4);
            else throw new MsgPackException("msgpack: expected a str at offset " + at);
            Need(length);
            offset = _pos;
            _pos += length;
        }

        /// <summary>True when the <paramref name="length"/> bytes at <paramref name="offset"/> are <paramref name="ascii"/>.</summary>
        public bool BytesEqual(int offset, int length, byte[] ascii)
        {
            if (length != ascii.Length) return false;
            for (int i = 0; i < length; i++)
                if (_data[offset + i] != ascii[i]) return false;
            return true;
        }

        /// <summary>Reads a str through <paramref name="cache"/>: a string seen before is not allocated again.</summary>
        public string ReadString(Utf8Cache cache)
        {
            int offset, length;
            ReadStringBytes(out offset, out length);
            return cache.Get(_data, offset, length);
        }

        /// <summary>Reads an integer (any int format, or a float with an integral value).</summary>
        public long ReadInteger()
        {
            int at = Position;
            byte b = Peek();
            if (b == 0xca || b == 0xcb)
            {
                double d = ReadNumber();
                if (Math.Floor(d) == d && Math.Abs(d) < 9e18) return (long)d;
                throw new MsgPackException("msgpack: expected an integer at offset " + at);
            }
            _pos++;
            if (b <= 0x7f) return b;
            if (b >= 0xe0) return (sbyte)b;
            switch (b)
            {
                case 0xcc: return (long)BigEndian(1);
                case 0xcd: return (long)BigEndian(2);
                case 0xce: return (long)BigEndian(4);
                case 0xcf: return unchecked((long)BigEndian(8));
                case 0xd0: return (sbyte)BigEndian(1);
                case 0xd1: return (short)BigEndian(2);
                case 0xd2: return (int)BigEndian(4);
                case 0xd3: return (long)BigEndian(8);
            }
            throw new MsgPackException("msgpack: expected an integer at offset " + at);
        }

        /// <summary>Reads a number (int or float) as a double.</summary>
        public double ReadNumber()
        {
            byte b = Peek();
            if (b == 0xca) { _pos++; return new FloatBits { Bits = (uint)BigEndian(4) }.Float; }
            if (b == 0xcb) { _pos++; return BitConverter.Int64BitsToDouble((long)BigEndian(8)); }
            return ReadInteger();
        }

        /// <summary>Reads a bool.</summary>
        public bool ReadBool()
        {
            byte b = Peek();
            if (b != 0xc2 && b != 0xc3) throw new MsgPackException("msgpack: expected a bool at offset " + Position);
            _pos++;
            return b == 0xc3;
        }

        /// <summary>Skips the next value (decoding it).</summary>
        public void Skip()
        {
            ReadValue();
        }

        /// <summary>Reads the next value (see <see cref="MsgPackCodec"/> for the .NET types produced).</summary>
        /// <exception cref="MsgPackException">Truncated or malformed input, or a type outside the supported subset.</exception>
        public object ReadValue()
        {
            Need(1);
            int at = Position;
            byte b = _data[_pos++];
            if (b <= 0x7f) return (long)b;
            if (b >= 0xe0) return (long)(sbyte)b;
            if ((b & 0xf0) == 0x80) return ReadMap(b & 0x0f);
            if ((b & 0xf0) == 0x90) return ReadArray(b & 0x0f);
            if ((b & 0xe0) == 0xa0) return ReadString(b & 0x1f);
            switch (b)
            {
                case 0xc0: return null;
                case 0xc2: return false;
                case 0xc3: return true;
                case 0xc4: return ReadBinary(Length(1));
                case 0xc5: return ReadBinary(Length(2));
                case 0xc6: return ReadBinary(Length(4));
                case 0xca: return new FloatBits { Bits = (uint)BigEndian(4) }.Float;
                case 0xcb: return BitConverter.Int64BitsToDouble((long)BigEndian(8));
                case 0xcc: return (long)BigEndian(1);
                case 0xcd: return (long)BigEndian(2);
                case 0xce: return (long)BigEndian(4);
                case 0xcf:
                {
                    ulong u = BigEndian(8);
                    return u <= long.MaxValue ? (object)(long)u : u;
                }
                case 0xd0: return (long)(sbyte)BigEndian(1);
                case 0xd1: return (long)(short)BigEndian(2);
                case 0xd2: return (long)(int)BigEndian(4);
                case 0xd3: return (long)BigEndian(8);
                case 0xd9: return ReadString(Length(1));
                case 0xda: return ReadString(Length(2));
                case 0xdb: return ReadString(Length(4));
                case 0xdc: return ReadArray(Length(2));
                case 0xdd: return ReadArray(Length(4));
                case 0xde: return ReadMap(Length(2));
                case 0xdf: return ReadMap(Length(4));
                case 0xc1:
                    throw new MsgPackException("msgpack: byte 0xc1 (never used) at offset " + at);
                default: // 0xc7-0xc9 ext, 0xd4-0xd8 fixext
                    throw new MsgPackException("msgpack: ext type 0x" + b.ToString("x2") + " at offset " + at + " is not supported");
            }
        }

        private string ReadString(int n)
        {
            Need(n);
            try
            {
                string s = StrictUtf8.GetString(_data, _pos, n);
                _pos += n;
                return s;
            }
            catch (ArgumentException)
            {
                throw new MsgPackException("msgpack: str at offset " + Position + " is not valid UTF-8");
            }
        }

        private byte[] ReadBinary(int n)
        {
            Need(n);
            var a = new byte[n];
            Buffer.BlockCopy(_data, _pos, a, 0, n);
            _pos += n;
            return a;
        }

        private object[] ReadArray(int n)
        {
            Need(n); // every element takes at least one byte
            Enter();
            var a = new object[n];
            for (int i = 0; i < n; i++) a[i] = ReadValue();
            _depth--;
            return a;
        }

        private Dictionary<string, object> ReadMap(int n)
        {
            Need(2L * n); // every pair takes at least two bytes
            Enter();
            var m = new Dictionary<string, object>(n);
            for (int i = 0; i < n; i++)
            {
                int at = Position;
                var key = ReadValue() as string;
                if (key == null) throw new MsgPackException("msgpack: map key at offset " + at + " is not a string");
                m[key] = ReadValue();
            }
            _depth--;
            return m;
        }

        private void Enter()
        {
            if (++_depth > MsgPackCodec.MaxDepth)
                throw new MsgPackException("msgpack: nested deeper than " + MsgPackCodec.MaxDepth + " levels at offset " + Position);
        }
    }

    /// <summary>A float32 and its IEEE 754 bits in one place: a bit-cast without <c>BitConverter</c>'s arrays.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit)]
    internal struct FloatBits
    {
        [System.Runtime.InteropServices.FieldOffset(0)] public float Float;
        [System.Runtime.InteropServices.FieldOffset(0)] public uint Bits;
    }

    /// <summary>UTF-8 strings decoded once: the words of guesses come back every few frames, and a
    /// string already seen is handed out again instead of being allocated. Holds at most
    /// <see cref="Capacity"/> strings (then starts over). One thread at a time.</summary>
    public sealed class Utf8Cache
    {
        /// <summary>Most strings kept.</summary>
        public const int Capacity = 1024;
        /// <summary>Longest string kept, in bytes (longer ones are decoded every time).</summary>
        public const int MaxBytes = 128;

        private static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);
        private readonly Dictionary<ulong, string> _strings = new Dictionary<ulong, string>();

        /// <summary>The string whose UTF-8 bytes are <paramref name="length"/> bytes of <paramref name="data"/> from <paramref name="offset"/>.</summary>
        /// <exception cref="MsgPackException">The bytes are not valid UTF-8.</exception>
        public string Get(byte[] data, int offset, int length)
        {
            if (length > MaxBytes) return Decode(data, offset, length);
            ulong h = 14695981039346656037UL ^ (ulong)length; // FNV-1a
            for (int i = 0; i < length; i++) h = (h ^ data[offset + i]) * 1099511628211UL;
            string s;
            if (_strings.TryGetValue(h, out s) && SameAscii(s, data, offset, length)) return s;
            s = Decode(data, offset, length);
            if (_strings.Count >= Capacity) _strings.Clear();
            _strings[h] = s;
            return s;
        }

        // The cached string is returned only when it is ASCII and equal byte for byte (a hash collision, or non-ASCII text, decodes again).
        private static bool SameAscii(string s, byte[] data, int offset, int length)
        {
            if (s.Length != length) return false;
            for (int i = 0; i < length; i++)
                if (s[i] > 0x7f || s[i] != data[offset + i]) return false;
            return true;
        }

        private static string Decode(byte[] data, int offset, int length)
        {
            try
            {
                return StrictUtf8.GetString(data, offset, length);
            }
            catch (ArgumentException)
            {
                throw new MsgPackException("msgpack: str at offset " + offset + " is not valid UTF-8");
            }
        }
    }
}
