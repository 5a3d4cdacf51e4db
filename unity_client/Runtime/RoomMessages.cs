// Typed server -> client messages of doodlestream protocol v1.2: rooms (see the project README,
// "Protocol v1.2: rooms", and server/rooms/room.py, which writes them). No UnityEngine dependency.

using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace Doodlestream
{
    /// <summary>The <c>error</c> codes only rooms answer (<see cref="ErrorMessage.Code"/>); shared ones
    /// (<c>invalid_field</c>, <c>rate_limited</c>, <c>unknown_word</c>) stay the core's.</summary>
    public static class RoomErrors
    {
        /// <summary>No open room has the code: mistyped, or the room ended.</summary>
        public const string UnknownRoom = "unknown_room";
        /// <summary>The room already seats <c>max_room_players</c> players.</summary>
        public const string RoomFull = "room_full";
        /// <summary>A rejoin key that names no seat (unknown, or held longer than <c>room_rejoin_s</c>).</summary>
        public const string UnknownSeat = "unknown_seat";
        /// <summary>A room message from a connection in no room.</summary>
        public const string NotInRoom = "not_in_room";
        /// <summary><c>room_create</c>/<c>room_join</c> from a connection already in a room.</summary>
        public const string AlreadyInRoom = "already_in_room";
        /// <summary>Only the host may start the game.</summary>
        public const string NotHost = "not_host";
        /// <summary>Not allowed in the room's state: a guess between turns, by the drawer, or twice; a second start.</summary>
        public const string NotNow = "not_now";
        /// <summary>Too many rooms open from this address, or on the server.</summary>
        public const string TooManyRooms = "too_many_rooms";
    }

    /// <summary>One seat of a room, as <c>room.players</c> lists it.</summary>
    public sealed class RoomPlayer
    {
        /// <summary>The player's id in the room (<c>p1</c>, <c>p2</c>..., <c>ai</c> for the AI).</summary>
        public string Id { get; private set; }
        /// <summary>The name the player chose (show it as text, never as markup).</summary>
        public string Name { get; private set; }
        /// <summary>Points this game.</summary>
        public int Score { get; private set; }
        /// <summary>False while the player's connection is gone (the seat is held for a rejoin).</summary>
        public bool Connected { get; private set; }
        /// <summary>True for the AI, the room's extra player.</summary>
        public bool IsAi { get; private set; }

        /// <summary>Creates the record.</summary>
        public RoomPlayer(string id, string name, int score, bool connected, bool isAi)
        {
            Id = id;
            Name = name;
            Score = score;
            Connected = connected;
            IsAi = isAi;
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return Id + " " + Name + " " + Score + (Connected ? "" : " (away)");
        }
    }

    /// <summary>One line of a score table (<c>turn_end.scores</c>, <c>game_end.scores</c>).</summary>
    public sealed class PlayerScore
    {
        /// <summary>The player's id.</summary>
        public string Id { get; private set; }
        /// <summary>The player's name.</summary>
        public string Name { get; private set; }
        /// <summary>Points this game.</summary>
        public int Score { get; private set; }

        /// <summary>Creates the record.</summary>
        public PlayerScore(string id, string name, int score)
        {
            Id = id;
            Name = name;
            Score = score;
        }
    }

    /// <summary>One of the AI's guesses in an <c>ai</c> message: the word, or only its hint while the word is
    /// hidden from this player (<see cref="Correct"/> then).</summary>
    public struct AiGuess
    {
        /// <summary>The guessed word, or null when it is the turn's word and this player may not see it yet.</summary>
        public readonly string Word;
        /// <summary>The masked word (<c>"___ ___"</c>) in place of <see cref="Word"/>, else null.</summary>
        public readonly string Hint;
        /// <summary>The model's score, 0..1.</summary>
        public readonly double Score;
        /// <summary>True when this guess is the turn's word.</summary>
        public readonly bool Correct;

        /// <summary>Creates a guess.</summary>
        public AiGuess(string word, string hint, double score, bool correct)
        {
            Word = word;
            Hint = hint;
            Score = score;
            Correct = correct;
        }
    }

    /// <summary>Reading helpers for the room messages' nested values.</summary>
    internal static class RoomFields
    {
        internal static bool IsNumber(object v)
        {
            return v is long || v is ulong || v is double || v is float;
        }

        internal static string Str(IDictionary<string, object> m, string key)
        {
            object v;
            return m != null && m.TryGetValue(key, out v) ? v as string : null;
        }

        internal static int Int(IDictionary<string, object> m, string key, int fallback)
        {
            object v;
            return m != null && m.TryGetValue(key, out v) && IsNumber(v) ? (int)Convert.ToDouble(v) : fallback;
        }

        internal static bool Bool(IDictionary<string, object> m, string key)
        {
            object v;
            return m != null && m.TryGetValue(key, out v) && v is bool && (bool)v;
        }

        internal static IReadOnlyList<PlayerScore> Scores(string type, object raw)
        {
            var items = raw as object[];
            if (items == null) throw new DoodleProtocolException("'" + type + "' message: 'scores' should be an array");
            var list = new List<PlayerScore>(items.Length);
            foreach (object item in items)
            {
                var p = item as IDictionary<string, object>;
                string id = Str(p, "id");
                if (id == null) throw new DoodleProtocolException("'" + type + "' message: each score needs a string 'id'");
                list.Add(new PlayerScore(id, Str(p, "name") ?? "", Int(p, "score", 0)));
            }
            return list.AsReadOnly();
        }

        internal static float[] Floats(string type, IDictionary<string, object> m, string key)
        {
            object v;
            var items = m != null && m.TryGetValue(key, out v) ? v as object[] : null;
            if (items == null) throw new DoodleProtocolException("'" + type + "' message lacks the array '" + key + "'");
            var a = new float[items.Length];
            for (int i = 0; i < a.Length; i++)
            {
                if (!IsNumber(items[i])) throw new DoodleProtocolException("'" + type + "' message: '" + key + "' holds a non-number");
                a[i] = (float)Convert.ToDouble(items[i]);
            }
            return a;
        }

        internal static long[] Times(IDictionary<string, object> m, int count)
        {
            object v;
            var items = m != null && m.TryGetValue("t", out v) ? v as object[] : null;
            var a = new long[count];
            if (items == null || items.Length != count) return a;
            for (int i = 0; i < count; i++) a[i] = IsNumber(items[i]) ? (long)Convert.ToDouble(items[i]) : 0;
            return a;
        }

        internal static Stroke StrokeOf(string type, IDictionary<string, object> m)
        {
            float[] x = Floats(type, m, "x"), y = Floats(type, m, "y");
            if (x.Length != y.Length) throw new DoodleProtocolException("'" + type + "' message: 'x' and 'y' differ in length");
            return new Stroke(x, y, Times(m, x.Length));
        }
    }

    /// <summary>v1.2: the room as this player sees it, after every change of its seats, host or state
    /// (the answer to <c>room_create</c>, <c>room_join</c>, <c>room_start</c>, and sent unasked).</summary>
    public sealed class RoomMessage : ServerMessage
    {
        /// <summary>The room's code (8 characters; pass it to <c>JoinRoom</c>).</summary>
        public string Code { get; private set; }
        /// <summary>The code as shown to people (<c>K7QM-XT4P</c>).</summary>
        public string Shown { get; private set; }
        /// <summary>This player's id.</summary>
        public string You { get; private set; }
        /// <summary>This seat's rejoin key (a session keeps it and rejoins with it after a drop).</summary>
        public string Key { get; private set; }
        /// <summary>The host's id (who may start the game), or null while nobody is connected.</summary>
        public string Host { get; private set; }
        /// <summary>The seats, the AI first.</summary>
        public IReadOnlyList<RoomPlayer> Players { get; private set; }
        /// <summary><c>lobby</c> or <c>playing</c>.</summary>
        public string State { get; private set; }
        /// <summary>The round being played (0 in the lobby).</summary>
        public int Round { get; private set; }
        /// <summary>Rounds in a game.</summary>
        public int Rounds { get; private set; }
        /// <summary>Seconds per turn.</summary>
        public int Seconds { get; private set; }
        /// <summary>Words in the room's own list, or null when it plays every word of the model.</summary>
        public int? Words { get; private set; }

        /// <summary>True when this player hosts the room.</summary>
        public bool IsHost { get { return Host != null && Host == You; } }
        /// <summary>True while a game is played.</summary>
        public bool IsPlaying { get { return State == "playing"; } }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public RoomMessage(IDictionary<string, object> f) : base(f)
        {
            Code = RequireString("code");
            Shown = OptionalString("shown") ?? Code;
            You = RequireString("you");
            Key = RequireString("key");
            Host = OptionalString("host");
            State = RequireString("state");
            Round = (int)(OptionalDouble("round") ?? 0);
            Rounds = (int)(OptionalDouble("rounds") ?? 0);
            Seconds = (int)(OptionalDouble("seconds") ?? 0);
            double? words = OptionalDouble("words");
            Words = words.HasValue ? (int?)(int)words.Value : null;
            var items = Require("players") as object[];
            if (items == null) throw Wrong("players", "an array", Fields["players"]);
            var players = new List<RoomPlayer>(items.Length);
            foreach (object item in items)
            {
                var p = item as IDictionary<string, object>;
                string id = RoomFields.Str(p, "id");
                if (id == null) throw new DoodleProtocolException("'room' message: each player needs a string 'id'");
                object connected;
                bool isConnected = !p.TryGetValue("connected", out connected) || !(connected is bool) || (bool)connected;
                players.Add(new RoomPlayer(id, RoomFields.Str(p, "name") ?? "", RoomFields.Int(p, "score", 0), isConnected, RoomFields.Bool(p, "ai")));
            }
            Players = players.AsReadOnly();
        }

        /// <summary>The seat with id <paramref name="id"/>, or null.</summary>
        public RoomPlayer Player(string id)
        {
            foreach (var p in Players)
                if (p.Id == id) return p;
            return null;
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return "room " + Shown + " (" + State + ", you " + You + ", " + Players.Count + " players)";
        }
    }

    /// <summary>v1.2: a turn begins (or, after a rejoin, goes on): who draws, the word's hint, the time left.
    /// The drawer's copy, and the copy of whoever guessed it, carries <see cref="Word"/>.</summary>
    public sealed class TurnMessage : ServerMessage
    {
        /// <summary>The drawer's player id.</summary>
        public string Drawer { get; private set; }
        /// <summary>The round (1..<see cref="Rounds"/>).</summary>
        public int Round { get; private set; }
        /// <summary>Rounds in the game.</summary>
        public int Rounds { get; private set; }
        /// <summary>The turn's number in the game, from 1.</summary>
        public int Turn { get; private set; }
        /// <summary>The turn's length in seconds.</summary>
        public int Seconds { get; private set; }
        /// <summary>Seconds left when the server sent it.</summary>
        public double Left { get; private set; }
        /// <summary>The word masked (<c>"___ ___"</c>): its letters' count and spaces.</summary>
        public string Hint { get; private set; }
        /// <summary>Letters of the word as guesses compare it (no spaces or punctuation).</summary>
        public int Length { get; private set; }
        /// <summary>Ids of the players who guessed it already (a rejoin in mid-turn).</summary>
        public IReadOnlyList<string> Guessed { get; private set; }
        /// <summary>The word, for the drawer (or a player who guessed it); else null.</summary>
        public string Word { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public TurnMessage(IDictionary<string, object> f) : base(f)
        {
            Drawer = RequireString("drawer");
            Round = (int)RequireLong("round");
            Rounds = (int)(OptionalDouble("rounds") ?? Round);
            Turn = (int)(OptionalDouble("turn") ?? 0);
            Seconds = (int)RequireLong("seconds");
            Left = OptionalDouble("left") ?? Seconds;
            Hint = RequireString("hint");
            Length = (int)(OptionalDouble("length") ?? 0);
            Guessed = OptionalStrings("guessed") ?? new List<string>().AsReadOnly();
            Word = OptionalString("word");
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return "turn " + Turn + " (round " + Round + "/" + Rounds + "): " + Drawer + " draws " + (Word ?? Hint);
        }
    }

    /// <summary>v1.2: what the drawer did, relayed to the other members as it arrives: <c>points</c>
    /// (<see cref="X"/>, <see cref="Y"/>, <see cref="T"/>), <c>pen_up</c>, <c>undo</c>, <c>clear</c>, or
    /// <c>replay</c>: the turn's drawing so far after a (re)join (<see cref="Strokes"/>, <see cref="Pending"/>).</summary>
    public sealed class DrawnMessage : ServerMessage
    {
        /// <summary>The drawer's player id.</summary>
        public string Player { get; private set; }
        /// <summary><c>points</c>, <c>pen_up</c>, <c>undo</c>, <c>clear</c> or <c>replay</c>.</summary>
        public string Op { get; private set; }
        /// <summary><c>points</c>: x coordinates (the drawer's units, y downwards); else empty.</summary>
        public IReadOnlyList<float> X { get; private set; }
        /// <summary><c>points</c>: y coordinates; else empty.</summary>
        public IReadOnlyList<float> Y { get; private set; }
        /// <summary><c>points</c>: times in ms since the drawing began; else empty.</summary>
        public IReadOnlyList<long> T { get; private set; }
        /// <summary><c>replay</c>: the finished strokes so far; else empty.</summary>
        public IReadOnlyList<Stroke> Strokes { get; private set; }
        /// <summary><c>replay</c>: the stroke in progress, or null.</summary>
        public Stroke Pending { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public DrawnMessage(IDictionary<string, object> f) : base(f)
        {
            Player = RequireString("player");
            Op = RequireString("op");
            float[] none = new float[0];
            X = Y = none;
            T = new long[0];
            var strokes = new List<Stroke>();
            if (Op == "points")
            {
                var s = RoomFields.StrokeOf("drawn", f);
                X = s.X.AsReadOnly();
                Y = s.Y.AsReadOnly();
                T = s.T.AsReadOnly();
            }
            else if (Op == "replay")
            {
                var items = Require("strokes") as object[];
                if (items == null) throw Wrong("strokes", "an array", Fields["strokes"]);
                foreach (object item in items) strokes.Add(RoomFields.StrokeOf("drawn", item as IDictionary<string, object>));
                object pending;
                var p = f.TryGetValue("pending", out pending) ? pending as IDictionary<string, object> : null;
                if (p != null) Pending = RoomFields.StrokeOf("drawn", p);
            }
            Strokes = strokes.AsReadOnly();
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return "drawn " + Op + " by " + Player + (Op == "points" ? " (" + X.Count + " points)" : Op == "replay" ? " (" + Strokes.Count + " strokes)" : "");
        }
    }

    /// <summary>v1.2: the AI's guesses after each of the drawer's pen-ups and undos, to every member.</summary>
    public sealed class AiMessage : ServerMessage
    {
        /// <summary>The AI's player id (<c>ai</c>).</summary>
        public string Player { get; private set; }
        /// <summary>Finished strokes of the drawing the AI saw.</summary>
        public int Strokes { get; private set; }
        /// <summary>Its guesses, best first; the turn's word masked for whoever may not see it.</summary>
        public IReadOnlyList<AiGuess> Guesses { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public AiMessage(IDictionary<string, object> f) : base(f)
        {
            Player = OptionalString("player") ?? "ai";
            Strokes = (int)(OptionalDouble("strokes") ?? 0);
            var items = Require("guesses") as object[];
            if (items == null) throw Wrong("guesses", "an array", Fields["guesses"]);
            var list = new List<AiGuess>(items.Length);
            foreach (object item in items)
            {
                var g = item as IDictionary<string, object>;
                object score;
                string word = RoomFields.Str(g, "word"), hint = RoomFields.Str(g, "hint");
                if (g == null || (word == null && hint == null) || !g.TryGetValue("score", out score) || !RoomFields.IsNumber(score))
                    throw new DoodleProtocolException("'ai' message: each guess needs a 'word' (or 'hint') and a number 'score'");
                list.Add(new AiGuess(word, hint, Convert.ToDouble(score), RoomFields.Bool(g, "correct")));
            }
            Guesses = list.AsReadOnly();
        }
    }

    /// <summary>v1.2: a player guessed. A wrong guess carries its <see cref="Text"/> for everyone; a close
    /// one's text goes only to its guesser; a right one carries the points, and the word for its guesser.</summary>
    public sealed class GuessedMessage : ServerMessage
    {
        /// <summary>Who guessed (<c>ai</c> when the AI's top guess was the word).</summary>
        public string Player { get; private set; }
        /// <summary>True when it was the word.</summary>
        public bool Correct { get; private set; }
        /// <summary>A wrong guess one edit from the word (or holding it).</summary>
        public bool Close { get; private set; }
        /// <summary>The guess as typed (wrong guesses; a close one only in its guesser's copy), else null. Show it as text.</summary>
        public string Text { get; private set; }
        /// <summary>A right guess's points, else null.</summary>
        public int? Points { get; private set; }
        /// <summary>The guesser's score after a right guess, else null.</summary>
        public int? Score { get; private set; }
        /// <summary>The drawer's share of a right guess, else null.</summary>
        public int? DrawerPoints { get; private set; }
        /// <summary>The drawer's score after a right guess, else null.</summary>
        public int? DrawerScore { get; private set; }
        /// <summary>The word, in the right guesser's own copy; else null.</summary>
        public string Word { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public GuessedMessage(IDictionary<string, object> f) : base(f)
        {
            Player = RequireString("player");
            object correct = Require("correct");
            if (!(correct is bool)) throw Wrong("correct", "a bool", correct);
            Correct = (bool)correct;
            Close = RoomFields.Bool(f, "close");
            Text = OptionalString("text");
            Points = OptionalInt("points");
            Score = OptionalInt("score");
            DrawerPoints = OptionalInt("drawer_points");
            DrawerScore = OptionalInt("drawer_score");
            Word = OptionalString("word");
        }

        private int? OptionalInt(string key)
        {
            double? v = OptionalDouble(key);
            return v.HasValue ? (int?)(int)v.Value : null;
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return "guessed by " + Player + ": " + (Correct ? "right (+" + Points + ")" : Close ? "close" : "wrong");
        }
    }

    /// <summary>v1.2: a turn is over: the word, why, the points it gave and the scores.</summary>
    public sealed class TurnEndMessage : ServerMessage
    {
        /// <summary>The word that was drawn.</summary>
        public string Word { get; private set; }
        /// <summary><c>guessed</c> (everyone did), <c>time</c> or <c>drawer_left</c>.</summary>
        public string Reason { get; private set; }
        /// <summary>The round.</summary>
        public int Round { get; private set; }
        /// <summary>The turn's number in the game.</summary>
        public int Turn { get; private set; }
        /// <summary>Points each player gained this turn, by id.</summary>
        public IReadOnlyDictionary<string, int> Points { get; private set; }
        /// <summary>Every player's score now.</summary>
        public IReadOnlyList<PlayerScore> Scores { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public TurnEndMessage(IDictionary<string, object> f) : base(f)
        {
            Word = RequireString("word");
            Reason = OptionalString("reason") ?? "";
            Round = (int)(OptionalDouble("round") ?? 0);
            Turn = (int)(OptionalDouble("turn") ?? 0);
            var points = new Dictionary<string, int>();
            object raw;
            var map = f.TryGetValue("points", out raw) ? raw as IDictionary<string, object> : null;
            if (map != null)
                foreach (var kv in map)
                    if (RoomFields.IsNumber(kv.Value)) points[kv.Key] = (int)Convert.ToDouble(kv.Value);
            Points = new ReadOnlyDictionary<string, int>(points);
            Scores = RoomFields.Scores("turn_end", Require("scores"));
        }
    }

    /// <summary>v1.2: the game is over (the room is back in its lobby): the final scores.</summary>
    public sealed class GameEndMessage : ServerMessage
    {
        /// <summary>Every player's final score, in seat order.</summary>
        public IReadOnlyList<PlayerScore> Scores { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public GameEndMessage(IDictionary<string, object> f) : base(f)
        {
            Scores = RoomFields.Scores("game_end", Require("scores"));
        }
    }

    /// <summary>v1.2: this connection is no longer in the room: it left (<c>left</c>, the answer to
    /// <c>room_leave</c>), or its seat was taken back by a rejoin elsewhere (<c>rejoined</c>).</summary>
    public sealed class RoomLeftMessage : ServerMessage
    {
        /// <summary>The room's code.</summary>
        public string Code { get; private set; }
        /// <summary><c>left</c> or <c>rejoined</c>.</summary>
        public string Reason { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public RoomLeftMessage(IDictionary<string, object> f) : base(f)
        {
            Code = RequireString("code");
            Reason = OptionalString("reason") ?? "left";
        }
    }

    /// <summary>v1.2: the room ended (no seat was left, or its server restarted): the session is in no room.</summary>
    public sealed class RoomEndedMessage : ServerMessage
    {
        /// <summary>The room's code.</summary>
        public string Code { get; private set; }

        /// <summary>Parses a decoded message map (public, so that games can build messages to unit-test their handlers).</summary>
        /// <exception cref="DoodleProtocolException">A required field is missing or of the wrong type.</exception>
        public RoomEndedMessage(IDictionary<string, object> f) : base(f)
        {
            Code = RequireString("code");
        }
    }
}
