// Typed server -> client messages of doodlestream protocol v1 (see the project README).
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

        /// <summary>Every field of the decoded map (msgpack values as produced by <see cref="Doodlestream.MsgPack.MsgPackCodec"/>).</summary>
        public IReadOnlyDictionary<string, object> Fields { get; private set; }

        /// <summary>Creates a message from a decoded map.</summary>
        protected ServerMessage(IDictionary<string, object> fields)
        {
            Fields = new ReadOnlyDictionary<string, object>(fields);
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

        internal WelcomeMessage(IDictionary<string, object> f) : base(f)
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

        internal HelloMessage(IDictionary<string, object> f) : base(f)
        {
            Protocol = (int)RequireLong("protocol");
            LiveMs = (int)RequireLong("live_ms");
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

        internal GuessesMessage(IDictionary<string, object> f) : base(f)
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
        internal ClearedMessage(IDictionary<string, object> f) : base(f) { }
    }

    /// <summary>The server refused a message; the session stays open.</summary>
    public sealed class ErrorMessage : ServerMessage
    {
        /// <summary>Machine-readable reason, e.g. <c>invalid_field</c>, <c>unknown_type</c>, <c>rate_limited</c>.</summary>
        public string Code { get; private set; }
        /// <summary>Human-readable explanation.</summary>
        public string Message { get; private set; }

        internal ErrorMessage(IDictionary<string, object> f) : base(f)
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

        internal SavedMessage(IDictionary<string, object> f) : base(f)
        {
            Id = RequireLong("id");
        }
    }

    /// <summary>The answer to <c>sprite</c>: a PNG of a drawing (transparent background).</summary>
    public sealed class SpriteMessage : ServerMessage
    {
        /// <summary>The PNG file's bytes (e.g. for <c>Texture2D.LoadImage</c>).</summary>
        public byte[] Png { get; private set; }

        internal SpriteMessage(IDictionary<string, object> f) : base(f)
        {
            object v = Require("png");
            Png = v as byte[];
            if (Png == null) throw Wrong("png", "bin (bytes)", v);
        }
    }
}
