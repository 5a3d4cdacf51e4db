// Typed server -> client messages of doodlestream protocol v1.1 (see the project README); v1.2's rooms: RoomMessages.cs.
// No UnityEngine dependency: this file compiles in any .NET (Framework 4.x / Standard 2.x) project.

using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace Doodlestream
{
    /// <summary>A server message that does not have the fields its <c>type</c> requires.</summary>
    public sealed class DoodleProtocolException : FormatException
    {
        /// <summary>Creates the exception with a message naming the message type and field.</summary>
        public DoodleProtocolException(string message) : base(message) { }
    }

    /// <summary>
    /// Any message from the server. Known types are parsed into the subclasses below; a type this
    /// client does not know (from a newer server) arrives as a plain <see cref="ServerMessage"/>.
    /// </summary>
    public class ServerMessage
    {
        /// <summary>The message's <c>type</c> field.</summary>
        public string Type { get; private set; }

        /// <summary>The <c>seq</c> of the client message this answers, when that message carried one.</summary>
        public long? Seq { get; private set; }

        private IReadOnlyDictionary<string, object> _fields;
        private readonly byte[] _raw; // the frame, for a message decoded without a map: Fields decodes it on first use

        /// <summary>Every field of the decoded map (msgpack values as produced by <see cref="Doodlestream.MsgPack.MsgPackCodec"/>).</summary>
        public IReadOnlyDictionary<string, object> Fields
        {
            get
            {
                if (_fields == null)
                    _fields = new ReadOnlyDictionary<string, object>((IDictionary<string, object>)Doodlestream.MsgPack.MsgPackCodec.Deserialize(_raw));
                return _fields;
            }
        }

        /// <summary>A message decoded straight from its frame (<paramref name="raw"/>, kept for <see cref="Fields"/>).</summary>
        internal ServerMessage(string type, long? seq, byte[] raw)
        {
            Type = type;
            Seq = seq;
            _raw = raw;
        }

        /// <summary>Creates a message from a decoded map.</summary>
        protected ServerMessage(IDictionary<string, object> fields)
        {
            _fields = new ReadOnlyDictionary<string, object>(fields);
            Type = fields.ContainsKey("type") ? fields["type"] as string : null;
            object seq;
            if (fields.TryGetValue("seq", out seq) && seq is long) Seq = (long)seq;
        }

        /// <summary>Parses a decoded map into the typed message its <c>type</c> names.</summary>
        /// <exception cref="DoodleProtocolException">No string <c>type</c>, or a required field is missing or of the wrong type.</exception>
        public static ServerMessage Parse(IDictionary<string, object> fields)
        {
            if (fields == null) throw new ArgumentNullException("fields");
            object type;
            if (!fields.TryGetValue("type", out type) || !(type is string))
                throw new DoodleProtocolException("server message has no string 'type'");
            switch ((string)type)
            {
                case "welcome": return new WelcomeMessage(fields);
                case "hello": return new HelloMessage(fields);
                case "guesses": return new GuessesMessage(fields);
                case "cleared": return new ClearedMessage(fields);
                case "error": return new ErrorMessage(fields);
                case "saved": return new SavedMessage(fields);
                case "sprite": return new SpriteMessage(fields);
                case "recognized": return new RecognizedMessage(fields);
                case "taught": return new TaughtMessage(fields);
                case "forgotten": return new ForgottenMessage(fields);
                case "room": return new RoomMessage(fields);
                case "turn": return new TurnMessage(fields);
                case "drawn": return new DrawnMessage(fields);
                case "ai": return new AiMessage(fields);
                case "guessed": return new GuessedMessage(fields);
                case "turn_end": return new TurnEndMessage(fields);
                case "game_end": return new GameEndMessage(fields);
                case "room_left": return new RoomLeftMessage(fields);
                case "room_ended": return new RoomEndedMessage(fields);
                default: return new ServerMessage(fields);
            }
        }

        /// <summary>A required integer field (msgpack int, or a float with an integral value).</summary>
        protected long RequireLong(string key)
        {
            object v = Require(key);
            if (v is long) return (long)v;
            if (v is ulong) return unchecked((long)(ulong)v);
            if ((v is double || v is float) && Math.Floor(Convert.ToDouble(v)) == Convert.ToDouble(v)) return Convert.ToInt64(v);
            throw Wrong(key, "an integer", v);
        }

        /// <summary>A required number field (int or float).</summary>
        protected double RequireDouble(string key)
        {
            object v = Require(key);
            if (v is long || v is ulong || v is double || v is float) return Convert.ToDouble(v);
            throw Wrong(key, "a number", v);
        }

        /// <summary>A required string field.</summary>
        protected string RequireString(string key)
        {
            object v = Require(key);
            var s = v as string;
            if (s == null) throw Wrong(key, "a string", v);
            return s;
        }

        /// <summary>An optional string field: null when absent or not a string.</summary>
        protected string OptionalString(string key)
        {
            object v;
            return Fields.TryGetValue(key, out v) ? v as string : null;
        }

        /// <summary>An optional array of strings: null when absent or nil; non-strings are skipped.</summary>
        protected IReadOnlyList<string> OptionalStrings(string key)
        {
            object v;
            var items = Fields.TryGetValue(key, out v) ? v as object[] : null;
            if (items == null) return null;
            var list = new List<string>(items.Length);
            foreach (object item in items)
                if (item is string) list.Add((string)item);
            return list.AsReadOnly();
        }

        /// <summary>An optional number field: null when absent or not a number.</summary>
        protected double? OptionalDouble(string key)
        {
            object v;
            if (!Fields.TryGetValue(key, out v)) return null;
            if (v is long || v is ulong || v is double || v is float) return Convert.ToDouble(v);
            return null;
        }

        /// <summary>A required field of any type.</summary>
        protected object Require(string key)
        {
            object v;
            if (!Fields.TryGetValue(key, out v) || v == null)
                throw new DoodleProtocolException("'" + Type + "' message lacks '" + key + "'");
            return v;
        }

        /// <summary>An exception saying that <paramref name="key"/> is not <paramref name="what"/>.</summary>
        protected DoodleProtocolException Wrong(string key, string what, object v)
        {
            return new DoodleProtocolException("'" + Type + "' message: '" + key + "' should be " + what + " but is " + (v == null ? "nil" : v.GetType().Name));
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return Type + (Seq.HasValue ? " (seq " + Seq.Value + ")" : "");
        }
    }

    /// <summary>The first message on every connection: protocol version, session, model and limits.</summary>
    public sealed class WelcomeMessage : ServerMessage
    {
        /// <summary>Protocol version the server speaks (1).</summary>
        public int Protocol { get; private set; }
        /// <summary>The server's id for this connection's session.</summary>
        public string Session { get; private set; }
        /// <summary>Name of the model that classifies the drawings.</summary>
        public string Model { get; private set; }
        /// <summary>How many words the model knows.</summary>
        public int Classes { get; private set; }
        /// <summary>The limits in force (name -> number), e.g. <c>max_points_per_message</c>.</summary>
        public IReadOnlyDictionary<string, double> Limits { get; private set; }
        /// <summary>v1.1: additions counted on top of <see cref="Protocol"/> (0 from a v1.0 server).</summary>
        public int ProtocolMinor { get; private set; }
        /// <summary>v1.1: what the server installed, among <c>words</c>, <c>target</c>, <c>teach</c>,
        /// <c>resume</c>, <c>submit</c>, <c>sprite</c> (empty from a v1.0 server).</summary>
        public IReadOnlyList<string> Features { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public WelcomeMessage(IDictionary<string, object> f) : base(f)
        {
            Protocol = (int)RequireLong("protocol");
            Session = RequireString("session");
            Model = RequireString("model");
            Classes = (int)RequireLong("classes");
            var limits = new Dictionary<string, double>();
            object raw;
            var map = f.TryGetValue("limits", out raw) ? raw as IDictionary<string, object> : null;
            if (map != null)
                foreach (var kv in map)
                    if (kv.Value is long || kv.Value is ulong || kv.Value is double || kv.Value is float)
                        limits[kv.Key] = Convert.ToDouble(kv.Value);
            Limits = new ReadOnlyDictionary<string, double>(limits);
            ProtocolMinor = (int)(OptionalDouble("protocol_minor") ?? 0);
            Features = OptionalStrings("features") ?? new List<string>().AsReadOnly();
        }

        /// <summary>True when <see cref="Features"/> holds <paramref name="feature"/>.</summary>
        public bool HasFeature(string feature)
        {
            foreach (var f in Features)
                if (f == feature) return true;
            return false;
        }

        /// <summary>The limit called <paramref name="name"/>, or <paramref name="fallback"/> when the server did not send it.</summary>
        public double Limit(string name, double fallback)
        {
            double v;
            return Limits.TryGetValue(name, out v) ? v : fallback;
        }
    }

    /// <summary>The answer to <c>hello</c>: the live-guess interval now in force.</summary>
    public sealed class HelloMessage : ServerMessage
    {
        /// <summary>Protocol version the server speaks.</summary>
        public int Protocol { get; private set; }
        /// <summary>Live guesses every this many milliseconds while drawing; 0 = off.</summary>
        public int LiveMs { get; private set; }
        /// <summary>v1.1 (when the hello carried a v1.1 field): the word list in force, null = every word.</summary>
        public IReadOnlyList<string> Words { get; private set; }
        /// <summary>v1.1: guesses per reply now in force, when reported.</summary>
        public int? TopK { get; private set; }
        /// <summary>v1.1: the target word now in force, or null.</summary>
        public string Target { get; private set; }
        /// <summary>v1.1: the score at which the target counts as recognized, when reported.</summary>
        public double? TargetThreshold { get; private set; }
        /// <summary>v1.1: the drawing key continued by a <c>resume</c>, else null.</summary>
        public string Drawing { get; private set; }
        /// <summary>v1.1: true when the <c>resume</c> worked.</summary>
        public bool Resumed { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public HelloMessage(IDictionary<string, object> f) : base(f)
        {
            Protocol = (int)RequireLong("protocol");
            LiveMs = (int)RequireLong("live_ms");
            Words = OptionalStrings("words");
            double? k = OptionalDouble("top_k");
            TopK = k.HasValue ? (int?)(int)k.Value : null;
            Target = OptionalString("target");
            TargetThreshold = OptionalDouble("target_threshold");
            Drawing = OptionalString("drawing");
            object resumed;
            Resumed = f.TryGetValue("resumed", out resumed) && resumed is bool && (bool)resumed;
        }
    }

    /// <summary>One word the model guessed, with its score (0..1).</summary>
    public struct Guess
    {
        /// <summary>The guessed word, e.g. "cat".</summary>
        public readonly string Word;
        /// <summary>The model's probability for the word, 0..1.</summary>
        public readonly double Score;

        /// <summary>Creates a guess.</summary>
        public Guess(string word, double score)
        {
            Word = word;
            Score = score;
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return Word + " " + Score.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Where the target word stands in a <c>guesses</c> (v1.1, after <see cref="DoodleClient.SetTarget"/>).</summary>
    public sealed class TargetScore
    {
        /// <summary>The target word.</summary>
        public string Word { get; private set; }
        /// <summary>Its score, 0..1.</summary>
        public double Score { get; private set; }
        /// <summary>Its rank among every candidate word, 1 = top guess.</summary>
        public int Rank { get; private set; }

        /// <summary>Creates the record.</summary>
        public TargetScore(string word, double score, int rank)
        {
            Word = word;
            Score = score;
            Rank = rank;
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return Word + " #" + Rank + " " + Score.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The model's top guesses for the drawing so far (after pen_up, stroke, undo, or live while drawing).</summary>
    public sealed class GuessesMessage : ServerMessage
    {
        /// <summary>Finished strokes in the drawing (0 for live guesses on the first stroke and for images).</summary>
        public int Strokes { get; private set; }
        /// <summary>The guesses, best first (five, or none when the drawing is empty).</summary>
        public IReadOnlyList<Guess> Guesses { get; private set; }
        /// <summary>Server time from receiving the message to sending this reply, in milliseconds.</summary>
        public double Ms { get; private set; }
        /// <summary>True for a live guess sent while a stroke is being drawn.</summary>
        public bool Live { get; private set; }

        /// <summary>The best guess, or null when there is none.</summary>
        public string TopWord { get { return Guesses.Count > 0 ? Guesses[0].Word : null; } }
        /// <summary>v1.1: the key of the drawing in progress (resume it after a lost connection), or null from an older server.</summary>
        public string Drawing { get; private set; }
        /// <summary>v1.1: the target word's score and rank, when a target is set and the canvas is not empty; else null.</summary>
        public TargetScore Target { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public GuessesMessage(IDictionary<string, object> f) : base(f)
        {
            Strokes = (int)RequireLong("strokes");
            Ms = RequireDouble("ms");
            object live;
            Live = f.TryGetValue("live", out live) && live is bool && (bool)live;
            var items = Require("guesses") as object[];
            if (items == null) throw Wrong("guesses", "an array", Fields["guesses"]);
            var list = new List<Guess>(items.Length);
            foreach (object item in items)
            {
                var g = item as IDictionary<string, object>;
                object word, score;
                if (g == null || !g.TryGetValue("word", out word) || !(word is string) || !g.TryGetValue("score", out score)
                    || !(score is double || score is float || score is long))
                    throw new DoodleProtocolException("'guesses' message: each guess needs a string 'word' and a number 'score'");
                list.Add(new Guess((string)word, Convert.ToDouble(score)));
            }
            Guesses = list.AsReadOnly();
            Drawing = OptionalString("drawing");
            object t;
            var target = f.TryGetValue("target", out t) ? t as IDictionary<string, object> : null;
            if (target != null)
            {
                object word, score, rank;
                if (!target.TryGetValue("word", out word) || !(word is string) || !target.TryGetValue("score", out score)
                    || !(score is double || score is float || score is long) || !target.TryGetValue("rank", out rank) || !(rank is long))
                    throw new DoodleProtocolException("'guesses' message: 'target' needs a string 'word', a number 'score' and an int 'rank'");
                Target = new TargetScore((string)word, Convert.ToDouble(score), (int)(long)rank);
            }
        }

        private GuessesMessage(long? seq, byte[] raw) : base("guesses", seq, raw) { }

        private static readonly byte[] KeySeq = Ascii("seq"), KeyStrokes = Ascii("strokes"), KeyMs = Ascii("ms");
        private static readonly byte[] KeyLive = Ascii("live"), KeyGuesses = Ascii("guesses"), KeyDrawing = Ascii("drawing");
        private static readonly byte[] KeyTarget = Ascii("target"), KeyWord = Ascii("word"), KeyScore = Ascii("score"), KeyRank = Ascii("rank");

        private static byte[] Ascii(string s)
        {
            return System.Text.Encoding.ASCII.GetBytes(s);
        }

        /// <summary>Decodes a <c>guesses</c> frame without building maps (words and drawing keys come from
        /// <paramref name="strings"/>): what arrives every few frames while drawing allocates only this
        /// message, its guesses and a copy of the frame (for <see cref="ServerMessage.Fields"/>).</summary>
        /// <exception cref="Doodlestream.MsgPack.MsgPackException">The frame is not valid msgpack.</exception>
        /// <exception cref="DoodleProtocolException">A field is missing or of the wrong type.</exception>
        public static GuessesMessage Decode(byte[] data, int offset, int count, Doodlestream.MsgPack.Utf8Cache strings)
        {
            var r = new Doodlestream.MsgPack.MsgPackReader(data, offset, count);
            int n = r.ReadMapHeader();
            long? seq = null;
            int strokes = -1;
            double ms = double.NaN;
            bool live = false;
            Guess[] guesses = null;
            string drawing = null;
            TargetScore target = null;
            for (int i = 0; i < n; i++)
            {
                int k, kl;
                r.ReadStringBytes(out k, out kl);
                if (r.BytesEqual(k, kl, KeySeq)) { if (!r.TryReadNil()) seq = r.ReadInteger(); }
                else if (r.BytesEqual(k, kl, KeyStrokes)) strokes = (int)r.ReadInteger();
                else if (r.BytesEqual(k, kl, KeyMs)) ms = r.ReadNumber();
                else if (r.BytesEqual(k, kl, KeyLive)) live = r.Peek() == 0xc3 || r.Peek() == 0xc2 ? r.ReadBool() : SkipFalse(r);
                else if (r.BytesEqual(k, kl, KeyDrawing)) drawing = r.TryReadNil() ? null : r.ReadString(strings);
                else if (r.BytesEqual(k, kl, KeyGuesses)) guesses = ReadGuesses(r, strings);
                else if (r.BytesEqual(k, kl, KeyTarget)) target = r.TryReadNil() ? null : ReadTarget(r, strings);
                else r.Skip(); // "type" (the caller checked it) and fields of newer servers
            }
            if (strokes < 0) throw new DoodleProtocolException("'guesses' message lacks 'strokes'");
            if (double.IsNaN(ms)) throw new DoodleProtocolException("'guesses' message lacks 'ms'");
            if (guesses == null) throw new DoodleProtocolException("'guesses' message lacks 'guesses'");
            if (r.Remaining != 0) throw new Doodlestream.MsgPack.MsgPackException("msgpack: " + r.Remaining + " unexpected bytes after the value");
            var raw = new byte[count];
            Buffer.BlockCopy(data, offset, raw, 0, count);
            return new GuessesMessage(seq, raw)
            {
                Strokes = strokes, Ms = ms, Live = live, Guesses = new ReadOnlyCollection<Guess>(guesses), Drawing = drawing, Target = target,
            };
        }

        private static bool SkipFalse(Doodlestream.MsgPack.MsgPackReader r)
        {
            r.Skip();
            return false;
        }

        private static Guess[] ReadGuesses(Doodlestream.MsgPack.MsgPackReader r, Doodlestream.MsgPack.Utf8Cache strings)
        {
            var a = new Guess[r.ReadArrayHeader()];
            for (int g = 0; g < a.Length; g++)
            {
                string word;
                double score;
                long rank;
                ReadWordScore(r, strings, out word, out score, out rank);
                if (word == null || double.IsNaN(score))
                    throw new DoodleProtocolException("'guesses' message: each guess needs a string 'word' and a number 'score'");
                a[g] = new Guess(word, score);
            }
            return a;
        }

        private static TargetScore ReadTarget(Doodlestream.MsgPack.MsgPackReader r, Doodlestream.MsgPack.Utf8Cache strings)
        {
            string word;
            double score;
            long rank;
            ReadWordScore(r, strings, out word, out score, out rank);
            if (word == null || double.IsNaN(score) || rank < 0)
                throw new DoodleProtocolException("'guesses' message: 'target' needs a string 'word', a number 'score' and an int 'rank'");
            return new TargetScore(word, score, (int)rank);
        }

        // A map of word, score and (a target's) rank; what is absent stays null, NaN, -1; other keys are skipped.
        private static void ReadWordScore(Doodlestream.MsgPack.MsgPackReader r, Doodlestream.MsgPack.Utf8Cache strings, out string word, out double score, out long rank)
        {
            word = null;
            score = double.NaN;
            rank = -1;
            int n = r.ReadMapHeader();
            for (int i = 0; i < n; i++)
            {
                int k, kl;
                r.ReadStringBytes(out k, out kl);
                if (r.BytesEqual(k, kl, KeyWord)) word = r.ReadString(strings);
                else if (r.BytesEqual(k, kl, KeyScore)) score = r.ReadNumber();
                else if (r.BytesEqual(k, kl, KeyRank)) rank = r.ReadInteger();
                else r.Skip();
            }
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return (Live ? "live " : "") + "guesses (" + Strokes + " strokes): " + string.Join(", ", Guesses);
        }
    }

    /// <summary>The answer to <c>clear</c>: a new, empty drawing has started.</summary>
    public sealed class ClearedMessage : ServerMessage
    {
        /// <summary>v1.1: the key of the new drawing, or null from an older server.</summary>
        public string Drawing { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public ClearedMessage(IDictionary<string, object> f) : base(f)
        {
            Drawing = OptionalString("drawing");
        }
    }

    /// <summary>v1.1: the target word reached its threshold in this drawing (once per drawing).</summary>
    public sealed class RecognizedMessage : ServerMessage
    {
        /// <summary>The target word.</summary>
        public string Word { get; private set; }
        /// <summary>Its score when it was recognized.</summary>
        public double Score { get; private set; }
        /// <summary>Finished strokes at that moment.</summary>
        public int Strokes { get; private set; }
        /// <summary>Milliseconds from the drawing's first point to its latest, in the drawing's own time.</summary>
        public long Ms { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public RecognizedMessage(IDictionary<string, object> f) : base(f)
        {
            Word = RequireString("word");
            Score = RequireDouble("score");
            Strokes = (int)RequireLong("strokes");
            Ms = RequireLong("ms");
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return "recognized " + Word + " after " + Strokes + " strokes, " + Ms + " ms";
        }
    }

    /// <summary>v1.1: the answer to <c>teach</c>.</summary>
    public sealed class TaughtMessage : ServerMessage
    {
        /// <summary>The custom word.</summary>
        public string Word { get; private set; }
        /// <summary>Example drawings the word holds now.</summary>
        public int Examples { get; private set; }
        /// <summary><c>session</c> or <c>server</c>.</summary>
        public string Scope { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public TaughtMessage(IDictionary<string, object> f) : base(f)
        {
            Word = RequireString("word");
            Examples = (int)RequireLong("examples");
            Scope = RequireString("scope");
        }
    }

    /// <summary>v1.1: the answer to <c>forget</c>.</summary>
    public sealed class ForgottenMessage : ServerMessage
    {
        /// <summary>The custom word removed.</summary>
        public string Word { get; private set; }
        /// <summary><c>session</c> or <c>server</c>.</summary>
        public string Scope { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public ForgottenMessage(IDictionary<string, object> f) : base(f)
        {
            Word = RequireString("word");
            Scope = RequireString("scope");
        }
    }

    /// <summary>One stroke: points with y growing downwards, optional times in ms since the drawing began.</summary>
    public sealed class Stroke
    {
        /// <summary>X coordinates.</summary>
        public readonly List<float> X = new List<float>();
        /// <summary>Y coordinates (downwards).</summary>
        public readonly List<float> Y = new List<float>();
        /// <summary>Times in ms, or null when the server is to stamp them.</summary>
        public List<long> T;

        /// <summary>An empty stroke, with times when <paramref name="timed"/>.</summary>
        public Stroke(bool timed = true)
        {
            if (timed) T = new List<long>();
        }

        /// <summary>A stroke of these points (copied).</summary>
        public Stroke(IList<float> x, IList<float> y, IList<long> t = null)
        {
            X.AddRange(x);
            Y.AddRange(y);
            if (t != null) T = new List<long>(t);
        }

        /// <summary>Points in the stroke.</summary>
        public int Count { get { return X.Count; } }

        /// <summary>Appends a point (with its time when the stroke is timed).</summary>
        public void Add(float x, float y, long t = 0)
        {
            X.Add(x);
            Y.Add(y);
            if (T != null) T.Add(t);
        }
    }

    /// <summary>The server refused a message; the session stays open.</summary>
    public sealed class ErrorMessage : ServerMessage
    {
        /// <summary>Machine-readable reason, e.g. <c>invalid_field</c>, <c>unknown_type</c>, <c>rate_limited</c>.</summary>
        public string Code { get; private set; }
        /// <summary>Human-readable explanation.</summary>
        public string Message { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public ErrorMessage(IDictionary<string, object> f) : base(f)
        {
            Code = RequireString("code");
            object m;
            Message = f.TryGetValue("message", out m) ? m as string ?? "" : "";
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return "error " + Code + ": " + Message + (Seq.HasValue ? " (seq " + Seq.Value + ")" : "");
        }
    }

    /// <summary>The answer to <c>submit</c>: the drawing was stored under <see cref="Id"/>.</summary>
    public sealed class SavedMessage : ServerMessage
    {
        /// <summary>The stored drawing's id (pass it to <see cref="DoodleClient.RequestSprite"/>).</summary>
        public long Id { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public SavedMessage(IDictionary<string, object> f) : base(f)
        {
            Id = RequireLong("id");
        }
    }

    /// <summary>The answer to <c>sprite</c>: a PNG of a drawing (transparent background).</summary>
    public sealed class SpriteMessage : ServerMessage
    {
        /// <summary>The PNG file's bytes (e.g. for <c>Texture2D.LoadImage</c>).</summary>
        public byte[] Png { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>

        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>

        public SpriteMessage(IDictionary<string, object> f) : base(f)
        {
            object v = Require("png");
            Png = v as byte[];
            if (Png == null) throw Wrong("png", "bin (bytes)", v);
        }
    }
}
