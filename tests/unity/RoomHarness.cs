// The rooms part of Harness.exe (compiled with Harness.cs): C# clients play a turn in a room against a
// live server (protocol v1.2), pumped from this one thread as Unity's Update would pump them.
//
//   Harness.exe room URL DIR    DIR holds WORD.json drawings ([[xs, ys, ts], ...]); the room plays those words.
//                               Ann creates the room, Bo joins, Cy finds it full (server run with
//                               --max-room-players 2) and a code unknown; Bo may not start it, Ann does;
//                               Ann draws her word's recorded drawing point by point; Bo's connection
//                               drops after the first stroke and his session rejoins the seat; Bo
//                               guesses wrong, then right; the turn ends; Bo leaves; the game ends.
//                               Prints one "room" line of everything seen.
//   Harness.exe balanced URL A B  through a balancer (deploy/haproxy.cfg) to two servers holding rooms A and B:
//                               join A, leave, join B (on the other server: reached through ?room=B),
//                               drop and rejoin B's seat. Prints one "balanced" line.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Doodlestream;

internal static partial class Harness
{
    private const double FrameS = 0.005;

    /// <summary>One player: its session and what it saw.</summary>
    private sealed class Player
    {
        public readonly string Name;
        public readonly DoodleSession Session;
        public readonly List<string> Seen = new List<string>(); // message types, in order
        public readonly List<TurnMessage> Turns = new List<TurnMessage>();
        public readonly List<AiMessage> Ai = new List<AiMessage>();
        public readonly List<GuessedMessage> Guessed = new List<GuessedMessage>();
        public readonly List<TurnEndMessage> TurnEnds = new List<TurnEndMessage>();
        public readonly List<GameEndMessage> GameEnds = new List<GameEndMessage>();
        public readonly List<RoomMessage> Rooms = new List<RoomMessage>();
        public readonly List<ErrorMessage> Errors = new List<ErrorMessage>();
        public readonly List<DrawnMessage> Replays = new List<DrawnMessage>();
        // The drawer's drawing as this player rebuilt it from drawn messages: finished strokes, and the one in progress.
        public readonly List<List<long[]>> Drawing = new List<List<long[]>>();
        public List<long[]> Pending = new List<long[]>();
        public int Connects, Faults;

        public Player(string name, string url)
        {
            Name = name;
            Session = new DoodleSession
            {
                ServerUrl = url, InitialBackoff = TimeSpan.FromSeconds(0.1), MaxBackoff = TimeSpan.FromSeconds(0.5),
                ReplyTimeout = TimeSpan.FromSeconds(30),
            };
            var s = Session;
            s.Connected += w => Connects++;
            s.Faulted += e => { Faults++; Console.Error.WriteLine(name + " fault: " + e); };
            s.ErrorReceived += m => { Errors.Add(m); Seen.Add("error:" + m.Code); };
            s.RoomReceived += m => { Rooms.Add(m); Seen.Add("room"); };
            s.TurnStarted += m => { Turns.Add(m); Seen.Add("turn"); };
            s.AiGuessed += m => { Ai.Add(m); Seen.Add("ai"); };
            s.Guessed += m => { Guessed.Add(m); Seen.Add("guessed"); };
            s.TurnEnded += m => { TurnEnds.Add(m); Seen.Add("turn_end"); };
            s.GameEnded += m => { GameEnds.Add(m); Seen.Add("game_end"); };
            s.RoomLeft += m => Seen.Add("room_left:" + m.Reason);
            s.RoomEnded += m => Seen.Add("room_ended");
            s.Drawn += OnDrawn;
        }

        private void OnDrawn(DrawnMessage m)
        {
            Seen.Add("drawn:" + m.Op);
            if (m.Op == "points")
                for (int i = 0; i < m.X.Count; i++) Pending.Add(new[] { (long)m.X[i], (long)m.Y[i], m.T[i] });
            else if (m.Op == "pen_up" && Pending.Count > 0) { Drawing.Add(Pending); Pending = new List<long[]>(); }
            else if (m.Op == "undo") { if (Pending.Count > 0) Pending.Clear(); else if (Drawing.Count > 0) Drawing.RemoveAt(Drawing.Count - 1); }
            else if (m.Op == "clear") { Drawing.Clear(); Pending.Clear(); }
            else if (m.Op == "replay")
            {
                Replays.Add(m);
                Drawing.Clear();
                foreach (var s in m.Strokes) Drawing.Add(Points(s));
                Pending = m.Pending != null ? Points(m.Pending) : new List<long[]>();
            }
        }

        private static List<long[]> Points(Doodlestream.Stroke s)
        {
            var list = new List<long[]>();
            for (int i = 0; i < s.Count; i++) list.Add(new[] { (long)s.X[i], (long)s.Y[i], s.T[i] });
            return list;
        }

        public object Json()
        {
            return new Dictionary<string, object>
            {
                { "seen", Seen.Cast<object>().ToList() }, { "connects", Connects }, { "faults", Faults },
                { "errors", Errors.Select(e => (object)e.Code).ToList() },
                { "turns", Turns.Select(t => (object)new Dictionary<string, object> {
                    { "drawer", t.Drawer }, { "round", t.Round }, { "rounds", t.Rounds }, { "turn", t.Turn }, { "seconds", t.Seconds },
                    { "left", t.Left }, { "hint", t.Hint }, { "length", t.Length }, { "word", t.Word } }).ToList() },
                { "ai", Ai.Select(a => (object)new Dictionary<string, object> {
                    { "strokes", a.Strokes }, { "words", a.Guesses.Select(g => (object)g.Word).ToList() },
                    { "hints", a.Guesses.Select(g => (object)g.Hint).ToList() }, { "correct", a.Guesses.Select(g => (object)g.Correct).ToList() } }).ToList() },
                { "guessed", Guessed.Select(g => (object)new Dictionary<string, object> {
                    { "player", g.Player }, { "correct", g.Correct }, { "close", g.Close }, { "text", g.Text }, { "points", g.Points },
                    { "score", g.Score }, { "drawer_points", g.DrawerPoints }, { "word", g.Word }, { "seq", g.Seq } }).ToList() },
                { "turn_ends", TurnEnds.Select(e => (object)new Dictionary<string, object> {
                    { "word", e.Word }, { "reason", e.Reason }, { "points", e.Points.ToDictionary(kv => kv.Key, kv => (object)kv.Value) },
                    { "scores", e.Scores.ToDictionary(p => p.Id, p => (object)p.Score) } }).ToList() },
                { "game_ends", GameEnds.Select(e => (object)e.Scores.ToDictionary(p => p.Id, p => (object)p.Score)).ToList() },
                { "rooms", Rooms.Select(r => (object)new Dictionary<string, object> {
                    { "code", r.Code }, { "shown", r.Shown }, { "you", r.You }, { "host", r.Host }, { "state", r.State }, { "has_key", !string.IsNullOrEmpty(r.Key) },
                    { "players", r.Players.Select(p => (object)(p.Id + ":" + p.Name + ":" + (p.Connected ? "on" : "off") + (p.IsAi ? ":ai" : ""))).ToList() } }).ToList() },
                { "replays", Replays.Select(r => (object)new Dictionary<string, object> { { "strokes", r.Strokes.Count }, { "pending", r.Pending != null ? r.Pending.Count : 0 } }).ToList() },
                { "drawing", Drawing.Select(s => (object)s.Select(p => (object)p.Cast<object>().ToList()).ToList()).ToList() },
                { "pending", Pending.Count },
            };
        }
    }

    private static void PumpAll(IList<Player> players, Func<bool> done, double timeoutS, string what)
    {
        double deadline = PumpClock.Elapsed.TotalSeconds + timeoutS;
        while (!done())
        {
            if (PumpClock.Elapsed.TotalSeconds > deadline) throw new TimeoutException("room: timed out waiting for " + what);
            Frame(players);
        }
    }

    private static void Frame(IList<Player> players)
    {
        foreach (var p in players)
        {
            p.Session.Pump(PumpClock.Elapsed.TotalSeconds);
            p.Session.FlushPoints(); // as LateUpdate
        }
        Thread.Sleep((int)(FrameS * 1000));
    }

    // The task's result, pumping meanwhile; a server error comes back as its code.
    private static T Await<T>(IList<Player> players, Task<T> task, string what, out string errorCode)
    {
        PumpAll(players, () => task.IsCompleted, 30, what);
        errorCode = null;
        if (task.Status == TaskStatus.RanToCompletion) return task.Result;
        var server = task.Exception.InnerException as DoodleServerException;
        if (server == null) throw task.Exception.InnerException;
        errorCode = server.Error.Code;
        return default(T);
    }

    private static int Balanced(string url, string codeA, string codeB)
    {
        var unity = new Player("Unity", url);
        var all = new List<Player> { unity };
        unity.Session.Start(PumpClock.Elapsed.TotalSeconds);
        PumpAll(all, () => unity.Session.IsConnected, 30, "a connection");
        string code;
        var a = Await(all, unity.Session.JoinRoomAsync(codeA, "Unity"), "room A", out code);
        var result = new Dictionary<string, object> { { "event", "balanced" }, { "a", a != null ? a.Code : code } };
        Await(all, unity.Session.LeaveRoomAsync(), "leaving room A", out code);
        int before = unity.Connects;
        var b = Await(all, unity.Session.JoinRoomAsync(codeB, "Unity"), "room B", out code);
        result["b"] = b != null ? b.Code : code;
        result["connects_for_b"] = unity.Connects - before;
        int rooms = unity.Rooms.Count;
        before = unity.Connects;
        unity.Session.Client.Dispose(); // a drop: the new connection must reach B's server again
        PumpAll(all, () => unity.Connects > before && unity.Rooms.Count > rooms || unity.Errors.Count > 0, 30, "the rejoin");
        result["rejoined"] = unity.Session.InRoom ? unity.Session.Room.Code : null;
        result["errors"] = unity.Errors.Select(e => (object)e.Code).ToList();
        result["faults"] = unity.Faults;
        Emit(result);
        unity.Session.Dispose();
        return 0;
    }

    private static int Room(string url, string dir)
    {
        var drawings = Directory.GetFiles(dir, "*.json").OrderBy(f => f, StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileNameWithoutExtension(f), f => ParseDrawing(File.ReadAllText(f)));
        var words = drawings.Keys.ToList();
        Player ann = new Player("Ann", url), bo = new Player("Bo", url), cy = new Player("Cy", url);
        var all = new List<Player> { ann, bo, cy };
        foreach (var p in all) p.Session.Start(PumpClock.Elapsed.TotalSeconds);
        PumpAll(all, () => all.All(p => p.Session.IsConnected), 30, "three connections");
        var result = new Dictionary<string, object> { { "event", "room" }, { "rooms_feature", ann.Session.HasFeature("rooms") } };
        string code;

        Await(all, cy.Session.JoinRoomAsync("ZZZZ-ZZZZ", "Cy"), "an unknown room", out code);
        result["unknown_room"] = code;
        var created = Await(all, ann.Session.CreateRoomAsync("Ann", 1, 60, words), "room_create", out code);
        result["create_error"] = code;
        result["created_seq_answered"] = created.Seq.HasValue;
        // The code as a person types it: lower case, with its dash.
        var joined = Await(all, bo.Session.JoinRoomAsync(created.Shown.ToLowerInvariant(), "B\u00f6 <i>"), "room_join", out code);
        result["join_error"] = code;
        result["joined_you"] = joined != null ? joined.You : null;
        PumpAll(all, () => ann.Rooms.Count >= 2, 10, "Ann's room with Bo");
        Await(all, cy.Session.JoinRoomAsync(created.Code, "Cy"), "a full room", out code);
        result["room_full"] = code;
        Await(all, bo.Session.StartRoomAsync(), "room_start by a guest", out code);
        result["not_host"] = code;
        Await(all, ann.Session.StartRoomAsync(), "room_start", out code);
        result["start_error"] = code;
        PumpAll(all, () => ann.Turns.Count >= 1 && bo.Turns.Count >= 1, 10, "the first turn");
        result["ann_is_drawer"] = ann.Session.IsDrawer;
        result["bo_is_drawer"] = bo.Session.IsDrawer;

        // The drawer draws her word's recorded drawing, a few points a frame as a finger would.
        var turn = ann.Session.Turn;
        string word = turn.Word;
        var strokes = drawings[word];
        double start = PumpClock.Elapsed.TotalSeconds;
        for (int s = 0; s < strokes.Count; s++)
        {
            var st = strokes[s];
            for (int i = 0; i < st.X.Length; i++)
            {
                double t = start + st.T[i] / 1000.0 * 0.05; // the drawing's own timing, 20 times faster
                if (i == 0) ann.Session.BeginStroke(st.X[i], st.Y[i], t);
                else ann.Session.AddPoint(st.X[i], st.Y[i], t);
                if (i % 3 == 2) Frame(all);
            }
            ann.Session.EndStroke();
            int ais = ann.Ai.Count;
            PumpAll(all, () => ann.Ai.Count > ais, 20, "the AI's guesses after stroke " + (s + 1));
            if (s == 0)
            {
                // Bo's connection drops (a tunnel): his session reconnects and takes the seat back with its key.
                bo.Session.Client.Dispose();
                result["bo_in_room_while_away"] = bo.Session.InRoom;
                PumpAll(all, () => ann.Rooms.Any(r => r.Player("p2") != null && !r.Player("p2").Connected), 10, "Bo seen away");
            }
        }
        PumpAll(all, () => bo.Connects >= 2 && bo.Replays.Count >= 1 && bo.Drawing.Count == strokes.Count, 20, "Bo back, with every stroke");
        result["bo_turn_after_rejoin"] = bo.Session.Turn != null && bo.Session.Turn.Drawer == "p1";
        result["word"] = word;
        result["strokes"] = strokes.Select(st => (object)st.X.Select((x, i) => (object)new List<object> { (long)x, (long)st.Y[i], st.T[i] }).ToList()).ToList();

        // Bo guesses: a wrong word of the room's list, then the word.
        string wrong = words.First(w => w != word);
        var first = Await(all, bo.Session.GuessAsync(wrong), "a wrong guess", out code);
        result["wrong_error"] = code;
        result["wrong_text"] = first != null ? first.Text : null;
        var right = Await(all, bo.Session.GuessAsync(word.ToUpperInvariant()), "the right guess", out code);
        result["right_error"] = code;
        result["right_word"] = right != null ? right.Word : null;
        PumpAll(all, () => ann.TurnEnds.Count >= 1 && bo.TurnEnds.Count >= 1, 10, "the turn's end");
        result["drawer_after_turn"] = ann.Session.IsDrawer;
        Await(all, bo.Session.GuessAsync(word), "a guess between turns", out code);
        result["between_turns"] = code;

        // Bo leaves; with nobody else to draw, the game ends after the gap between turns.
        var left = Await(all, bo.Session.LeaveRoomAsync(), "room_leave", out code);
        result["left"] = left != null ? left.Reason : code;
        result["bo_in_room_after_leaving"] = bo.Session.InRoom;
        // game_end comes first, then the room's new view (back in its lobby) in a frame that may be pumped later.
        PumpAll(all, () => ann.GameEnds.Count >= 1 && ann.Session.Room.State == "lobby", 20, "the game's end and the lobby");
        result["ann_room_state"] = ann.Session.Room.State;
        result["ann"] = ann.Json();
        result["bo"] = bo.Json();
        result["cy"] = cy.Json();
        Emit(result);
        foreach (var p in all) p.Session.Dispose();
        return 0;
    }
}
