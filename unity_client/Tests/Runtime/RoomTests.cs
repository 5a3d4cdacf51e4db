// Unity Test Framework tests of the room messages (protocol v1.2): each call's frame as the server's
// parsers read it, each server message decoded into its typed event, and a session that rejoins its
// seat on a new connection. An in-memory transport stands in for the server; no UnityEngine.

using System;
using System.Collections.Generic;
using Doodlestream.MsgPack;
using NUnit.Framework;

namespace Doodlestream.Tests
{
    /// <summary>The room calls encode, the room messages decode, a session rejoins its seat.</summary>
    public sealed class RoomTests
    {
        /// <summary>A transport in memory: it answers the connect with a welcome offering rooms, keeps what
        /// is sent, and delivers what the test pushes.</summary>
        private sealed class MemoryTransport : IDoodleTransport
        {
            public readonly List<Dictionary<string, object>> Sent = new List<Dictionary<string, object>>();
            private readonly Queue<TransportEvent> _inbox = new Queue<TransportEvent>();
            public Uri Url;

            public long BufferedBytes { get { return 0; } }

            public void Connect(Uri url, string token, int maxMessageBytes)
            {
                Url = url;
                Push(new Dictionary<string, object>
                {
                    { "type", "welcome" }, { "protocol", 1L }, { "session", "s1" }, { "model", "m" }, { "classes", 345L },
                    { "protocol_minor", 2L }, { "features", new object[] { "resume", "rooms" } },
                    { "limits", new Dictionary<string, object> { { "max_name_chars", 24L }, { "max_guess_chars", 48L }, { "max_rounds", 10L }, { "min_turn_s", 15L }, { "max_turn_s", 240L } } },
                });
            }

            public void Push(Dictionary<string, object> message)
            {
                byte[] frame = MsgPackCodec.Serialize(message);
                _inbox.Enqueue(new TransportEvent { Kind = TransportEventKind.Message, Data = frame, Count = frame.Length });
            }

            public void Drop()
            {
                _inbox.Enqueue(new TransportEvent { Kind = TransportEventKind.Closed, CloseCode = 1006 });
            }

            public void Send(byte[] buffer, int offset, int count)
            {
                Sent.Add((Dictionary<string, object>)MsgPackCodec.Deserialize(buffer, offset, count));
            }

            public void Close(int code, string reason) { _inbox.Enqueue(new TransportEvent { Kind = TransportEventKind.Closed, CloseCode = code }); }

            public void Dispose() { }

            public bool TryReceive(out TransportEvent e)
            {
                if (_inbox.Count > 0)
                {
                    e = _inbox.Dequeue();
                    return true;
                }
                e = default(TransportEvent);
                return false;
            }
        }

        private static DoodleClient Connected(MemoryTransport t)
        {
            var c = new DoodleClient(new Uri("ws://127.0.0.1:1/ws"), t);
            c.Connect(0);
            c.Pump(0);
            Assert.IsTrue(c.IsConnected);
            return c;
        }

        private static Dictionary<string, object> Map(params object[] kv)
        {
            var m = new Dictionary<string, object>();
            for (int i = 0; i < kv.Length; i += 2) m[(string)kv[i]] = kv[i + 1];
            return m;
        }

        private static Dictionary<string, object> RoomMap(string you, string state)
        {
            return Map("type", "room", "code", "K7QMXT4P", "shown", "K7QM-XT4P", "you", you, "key", "key-" + you, "host", "p1",
                "players", new object[]
                {
                    Map("id", "ai", "name", "AI", "score", 0L, "connected", true, "ai", true),
                    Map("id", "p1", "name", "Ann", "score", 120L, "connected", true),
                    Map("id", "p2", "name", "B\u00e9a <b>", "score", 0L, "connected", false),
                },
                "state", state, "round", 1L, "rounds", 3L, "seconds", 80L, "words", null);
        }

        /// <summary>Each room call's frame holds the type, a fresh seq and exactly the fields server/rooms/messages.py parses.</summary>
        [Test]
        public void RoomCallsEncodeAsTheServerParsesThem()
        {
            var t = new MemoryTransport();
            var c = Connected(t);
            long create = c.CreateRoom("Ann", 2, 30, new[] { "cat", "house" });
            c.CreateRoom("Bo");
            c.JoinRoom("k7qm-xt4p", "B\u00e9a");
            c.RejoinRoom("K7QMXT4P", "secret-key");
            c.StartRoom();
            c.SendGuess("a cat?");
            c.LeaveRoom();
            var sent = t.Sent;
            Assert.AreEqual(7, sent.Count);
            Assert.AreEqual(new[] { "room_create", "room_create", "room_join", "room_join", "room_start", "guess", "room_leave" },
                sent.ConvertAll(m => (string)m["type"]));
            Assert.AreEqual(create, (long)sent[0]["seq"]);
            Assert.AreEqual("Ann", sent[0]["name"]);
            Assert.AreEqual(2L, sent[0]["rounds"]);
            Assert.AreEqual(30L, sent[0]["seconds"]);
            Assert.AreEqual(new object[] { "cat", "house" }, sent[0]["words"]);
            Assert.AreEqual(3, sent[1].Count); // type, seq, name: the server's defaults for the rest
            Assert.AreEqual("k7qm-xt4p", sent[2]["code"]);
            Assert.AreEqual("B\u00e9a", sent[2]["name"]);
            Assert.IsFalse(sent[2].ContainsKey("key"));
            Assert.AreEqual("secret-key", sent[3]["key"]);
            Assert.IsFalse(sent[3].ContainsKey("name"));
            Assert.AreEqual(2, sent[4].Count);
            Assert.AreEqual("a cat?", sent[5]["text"]);
            Assert.AreEqual(2, sent[6].Count);
            for (int i = 1; i < sent.Count; i++) Assert.AreEqual((long)sent[i - 1]["seq"] + 1, (long)sent[i]["seq"]);
        }

        /// <summary>What the server would refuse is refused here first (welcome.limits), and nothing is sent.</summary>
        [Test]
        public void RoomCallsCheckTheServersLimits()
        {
            var t = new MemoryTransport();
            var c = Connected(t);
            Assert.Throws<ArgumentException>(() => c.CreateRoom("   "));
            Assert.Throws<ArgumentException>(() => c.CreateRoom(new string('n', 25)));
            Assert.Throws<ArgumentNullException>(() => c.JoinRoom("K7QMXT4P", null));
            Assert.Throws<ArgumentOutOfRangeException>(() => c.CreateRoom("Ann", 11));
            Assert.Throws<ArgumentOutOfRangeException>(() => c.CreateRoom("Ann", null, 14));
            Assert.Throws<ArgumentOutOfRangeException>(() => c.CreateRoom("Ann", null, 241));
            Assert.Throws<ArgumentOutOfRangeException>(() => c.CreateRoom("Ann", null, null, new string[0]));
            Assert.Throws<ArgumentException>(() => c.JoinRoom(" ", "Ann"));
            Assert.Throws<ArgumentException>(() => c.RejoinRoom("K7QMXT4P", ""));
            Assert.Throws<ArgumentException>(() => c.SendGuess(new string('g', 49)));
            c.SendGuess(new string('\u732b', 48)); // 48 characters, whatever their bytes
            c.CreateRoom("\ud83d\ude00" + new string('n', 23)); // a character outside the BMP counts once
            Assert.AreEqual(2, t.Sent.Count);
        }

        /// <summary>Every room message the server sends arrives as its typed event, with its fields.</summary>
        [Test]
        public void RoomMessagesDecodeIntoTypedEvents()
        {
            var t = new MemoryTransport();
            var c = Connected(t);
            var got = new List<ServerMessage>();
            c.RoomReceived += got.Add;
            c.TurnStarted += got.Add;
            c.Drawn += got.Add;
            c.AiGuessed += got.Add;
            c.Guessed += got.Add;
            c.TurnEnded += got.Add;
            c.GameEnded += got.Add;
            c.RoomLeft += got.Add;
            c.RoomEnded += got.Add;
            var errors = new List<ErrorMessage>();
            c.ErrorReceived += errors.Add;
            t.Push(RoomMap("p2", "playing"));
            t.Push(Map("type", "turn", "drawer", "p1", "round", 1L, "rounds", 3L, "turn", 1L, "seconds", 80L, "left", 79.5, "hint", "___ ___", "length", 6L, "guessed", new object[] { "ai" }, "word", "hot dog"));
            t.Push(Map("type", "drawn", "player", "p1", "op", "points", "x", new object[] { 1.5, 2L }, "y", new object[] { 3.0f, 4.25 }, "t", new object[] { 0L, 16L }));
            t.Push(Map("type", "drawn", "player", "p1", "op", "pen_up"));
            t.Push(Map("type", "drawn", "player", "p1", "op", "replay", "strokes", new object[] { Map("x", new object[] { 1L, 2L }, "y", new object[] { 3L, 4L }, "t", new object[] { 0L, 9L }) },
                "pending", Map("x", new object[] { 5.5 }, "y", new object[] { 6L }, "t", new object[] { 20L })));
            t.Push(Map("type", "ai", "player", "ai", "strokes", 3L, "guesses", new object[] { Map("word", "cat", "score", 0.41), Map("hint", "___ ___", "score", 0.2, "correct", true) }));
            t.Push(Map("type", "guessed", "player", "p2", "correct", false, "text", "a cat?"));
            t.Push(Map("type", "guessed", "player", "p3", "correct", false, "close", true));
            t.Push(Map("type", "guessed", "player", "p2", "correct", true, "points", 420L, "score", 900L, "drawer_points", 210L, "drawer_score", 500L, "word", "hot dog", "seq", 7L));
            t.Push(Map("type", "turn_end", "word", "hot dog", "reason", "guessed", "round", 1L, "turn", 1L, "points", Map("p2", 420L, "p1", 210L),
                "scores", new object[] { Map("id", "ai", "name", "AI", "score", 0L), Map("id", "p1", "name", "Ann", "score", 500L) }));
            t.Push(Map("type", "game_end", "scores", new object[] { Map("id", "p1", "name", "Ann", "score", 500L) }));
            t.Push(Map("type", "room_left", "code", "K7QMXT4P", "reason", "rejoined"));
            t.Push(Map("type", "room_ended", "code", "K7QMXT4P"));
            t.Push(Map("type", "error", "code", RoomErrors.UnknownRoom, "message", "no open room has the code"));
            t.Push(Map("type", "drawn", "player", "p1", "op", "points", "x", new object[] { 1L }, "y", new object[] { "not a number" })); // skipped: Faulted
            int faults = 0;
            c.Faulted += e => faults++;
            c.Pump(0);
            Assert.AreEqual(13, got.Count);
            Assert.AreEqual(1, faults);
            Assert.AreEqual(RoomErrors.UnknownRoom, errors[0].Code);

            var room = (RoomMessage)got[0];
            Assert.AreEqual("K7QMXT4P", room.Code);
            Assert.AreEqual("K7QM-XT4P", room.Shown);
            Assert.AreEqual("p2", room.You);
            Assert.AreEqual("key-p2", room.Key);
            Assert.IsFalse(room.IsHost);
            Assert.IsTrue(room.IsPlaying);
            Assert.AreEqual(3, room.Players.Count);
            Assert.IsTrue(room.Players[0].IsAi);
            Assert.AreEqual(120, room.Player("p1").Score);
            Assert.AreEqual("B\u00e9a <b>", room.Player("p2").Name);
            Assert.IsFalse(room.Player("p2").Connected);
            Assert.IsNull(room.Words);
            Assert.AreEqual(80, room.Seconds);

            var turn = (TurnMessage)got[1];
            Assert.AreEqual("p1", turn.Drawer);
            Assert.AreEqual(79.5, turn.Left, 1e-9);
            Assert.AreEqual("___ ___", turn.Hint);
            Assert.AreEqual(6, turn.Length);
            Assert.AreEqual(new[] { "ai" }, turn.Guessed);
            Assert.AreEqual("hot dog", turn.Word);

            var points = (DrawnMessage)got[2];
            Assert.AreEqual("points", points.Op);
            Assert.AreEqual(new[] { 1.5f, 2f }, points.X);
            Assert.AreEqual(new[] { 3f, 4.25f }, points.Y);
            Assert.AreEqual(new[] { 0L, 16L }, points.T);
            Assert.AreEqual("pen_up", ((DrawnMessage)got[3]).Op);
            var replay = (DrawnMessage)got[4];
            Assert.AreEqual(1, replay.Strokes.Count);
            Assert.AreEqual(new[] { 2f, 4f }, new[] { replay.Strokes[0].X[1], replay.Strokes[0].Y[1] });
            Assert.AreEqual(9L, replay.Strokes[0].T[1]);
            Assert.AreEqual(5.5f, replay.Pending.X[0]);

            var ai = (AiMessage)got[5];
            Assert.AreEqual(3, ai.Strokes);
            Assert.AreEqual("cat", ai.Guesses[0].Word);
            Assert.IsFalse(ai.Guesses[0].Correct);
            Assert.IsNull(ai.Guesses[1].Word);
            Assert.AreEqual("___ ___", ai.Guesses[1].Hint);
            Assert.IsTrue(ai.Guesses[1].Correct);

            var wrong = (GuessedMessage)got[6];
            Assert.IsFalse(wrong.Correct);
            Assert.AreEqual("a cat?", wrong.Text);
            Assert.IsNull(wrong.Points);
            var close = (GuessedMessage)got[7];
            Assert.IsTrue(close.Close);
            Assert.IsNull(close.Text);
            var right = (GuessedMessage)got[8];
            Assert.IsTrue(right.Correct);
            Assert.AreEqual(420, right.Points.Value);
            Assert.AreEqual(900, right.Score.Value);
            Assert.AreEqual(210, right.DrawerPoints.Value);
            Assert.AreEqual(500, right.DrawerScore.Value);
            Assert.AreEqual("hot dog", right.Word);
            Assert.AreEqual(7L, right.Seq);

            var end = (TurnEndMessage)got[9];
            Assert.AreEqual("guessed", end.Reason);
            Assert.AreEqual(420, end.Points["p2"]);
            Assert.AreEqual(2, end.Scores.Count);
            Assert.AreEqual(500, end.Scores[1].Score);
            Assert.AreEqual("Ann", ((GameEndMessage)got[10]).Scores[0].Name);
            Assert.AreEqual("rejoined", ((RoomLeftMessage)got[11]).Reason);
            Assert.AreEqual("K7QMXT4P", ((RoomEndedMessage)got[12]).Code);
        }

        /// <summary>A session keeps its seat: on a new connection it rejoins with the seat's key instead of
        /// replaying its drawing; a rejoin refused (unknown_seat) leaves it in no room; leaving forgets the seat.</summary>
        [Test]
        public void SessionRejoinsItsSeatOnANewConnection()
        {
            var transports = new List<MemoryTransport>();
            var s = new DoodleSession(() => { var t = new MemoryTransport(); transports.Add(t); return t; })
            {
                InitialBackoff = TimeSpan.FromSeconds(0.1), MaxBackoff = TimeSpan.FromSeconds(0.1), BackoffSeed = 1,
            };
            var turns = new List<TurnMessage>();
            s.TurnStarted += turns.Add;
            s.Start(0);
            s.Pump(0);
            s.Pump(0);
            Assert.IsTrue(s.IsConnected);
            s.CreateRoom("Ann");
            transports[0].Push(RoomMap("p1", "playing"));
            transports[0].Push(Map("type", "turn", "drawer", "p1", "round", 1L, "seconds", 80L, "hint", "___", "word", "cat"));
            s.Pump(0.1);
            Assert.IsTrue(s.InRoom);
            Assert.IsTrue(s.IsDrawer);
            Assert.AreEqual(1, turns.Count);
            s.BeginStroke(1, 2, 0.2);
            s.AddPoint(3, 4, 0.3);
            s.EndStroke();
            Assert.AreEqual(1, s.StrokeCount);

            transports[0].Drop();
            s.Pump(0.4);
            Assert.IsFalse(s.IsConnected);
            Assert.IsTrue(s.InRoom); // the seat is held
            s.Pump(1.0);
            s.Pump(1.0);
            Assert.AreEqual(2, transports.Count);
            Assert.IsTrue(s.IsConnected);
            var types = transports[1].Sent.ConvertAll(m => (string)m["type"]);
            Assert.AreEqual(new[] { "hello", "room_join" }, types); // no resume, no strokes: the room replays its drawing
            Assert.AreEqual("?room=K7QMXT4P", transports[1].Url.Query); // a balancer sends it to the room's server
            var join = transports[1].Sent[1];
            Assert.AreEqual("K7QMXT4P", join["code"]);
            Assert.AreEqual("key-p1", join["key"]);
            Assert.AreEqual(0, s.StrokeCount);
            transports[1].Push(RoomMap("p1", "playing"));
            transports[1].Push(Map("type", "drawn", "player", "p1", "op", "replay", "strokes", new object[] { Map("x", new object[] { 1L, 3L }, "y", new object[] { 2L, 4L }, "t", new object[] { 0L, 100L }) }));
            s.Pump(1.1);
            Assert.AreEqual(1, s.StrokeCount); // the drawing as the server kept it

            transports[1].Drop();
            s.Pump(1.2);
            s.Pump(2.0);
            s.Pump(2.0);
            Assert.AreEqual(3, transports.Count);
            var rejoin = transports[2].Sent[transports[2].Sent.Count - 1];
            Assert.AreEqual("room_join", rejoin["type"]);
            transports[2].Push(Map("type", "error", "code", RoomErrors.UnknownSeat, "message", "held too long", "seq", rejoin["seq"]));
            var errors = new List<ErrorMessage>();
            s.ErrorReceived += errors.Add;
            s.Pump(2.1);
            Assert.AreEqual(RoomErrors.UnknownSeat, errors[0].Code);
            Assert.IsFalse(s.InRoom);
            Assert.IsNull(s.Room);

            s.JoinRoom("K7QMXT4P", "Ann");
            transports[2].Push(RoomMap("p1", "lobby"));
            s.Pump(2.2);
            Assert.IsTrue(s.InRoom);
            s.LeaveRoom();
            Assert.IsFalse(s.InRoom);
            transports[2].Drop();
            s.Pump(2.3);
            s.Pump(3.0);
            s.Pump(3.0);
            Assert.AreEqual(4, transports.Count);
            Assert.AreEqual(new[] { "hello" }, transports[3].Sent.ConvertAll(m => (string)m["type"])); // nothing to rejoin
            Assert.AreEqual("", transports[3].Url.Query);
            s.Dispose();
        }

        private static DoodleSession Session(List<MemoryTransport> transports)
        {
            var s = new DoodleSession(() => { var t = new MemoryTransport(); transports.Add(t); return t; })
            {
                InitialBackoff = TimeSpan.FromSeconds(0.1), MaxBackoff = TimeSpan.FromSeconds(0.1), BackoffSeed = 1,
            };
            s.Start(0);
            s.Pump(0);
            s.Pump(0);
            Assert.IsTrue(s.IsConnected);
            return s;
        }

        /// <summary>Behind a balancer: a join answered unknown_room by a server the connection did not name is asked
        /// again, once, on a new connection opened with ?room=CODE; the awaited join completes there, or fails.</summary>
        [Test]
        public void JoinReachesTheRoomsServerThroughItsCode()
        {
            var transports = new List<MemoryTransport>();
            var s = Session(transports);
            var errors = new List<ErrorMessage>();
            s.ErrorReceived += errors.Add;
            var joined = s.JoinRoomAsync("k7qm-xt4p", "Bo");
            var first = transports[0].Sent[transports[0].Sent.Count - 1];
            Assert.AreEqual("room_join", first["type"]);
            transports[0].Push(Map("type", "error", "code", RoomErrors.UnknownRoom, "message", "not here", "seq", first["seq"]));
            s.Pump(0.1);
            Assert.AreEqual(0, errors.Count); // not raised: asked again through the room's server
            s.Pump(0.2);
            s.Pump(0.2);
            Assert.AreEqual(2, transports.Count);
            Assert.AreEqual("?room=K7QMXT4P", transports[1].Url.Query);
            var again = transports[1].Sent[transports[1].Sent.Count - 1];
            Assert.AreEqual("room_join", again["type"]);
            Assert.AreEqual("K7QMXT4P", again["code"]);
            Assert.AreEqual("Bo", again["name"]);
            Assert.IsFalse(joined.IsCompleted);
            var room = RoomMap("p2", "lobby");
            room["seq"] = again["seq"];
            transports[1].Push(room);
            s.Pump(0.3);
            Assert.IsTrue(joined.IsCompleted);
            Assert.AreEqual("p2", joined.Result.You);
            Assert.IsTrue(s.InRoom);

            // A room unknown on its own server too: the error is raised and the awaited join fails.
            var lost = new List<MemoryTransport>();
            var other = Session(lost);
            var refused = other.JoinRoomAsync("ZZZZ-ZZZZ", "Cy");
            var ask = lost[0].Sent[lost[0].Sent.Count - 1];
            lost[0].Push(Map("type", "error", "code", RoomErrors.UnknownRoom, "seq", ask["seq"]));
            other.Pump(0.1);
            other.Pump(0.2);
            other.Pump(0.2);
            Assert.AreEqual("?room=ZZZZZZZZ", lost[1].Url.Query);
            ask = lost[1].Sent[lost[1].Sent.Count - 1];
            lost[1].Push(Map("type", "error", "code", RoomErrors.UnknownRoom, "seq", ask["seq"]));
            other.Pump(0.3);
            Assert.IsTrue(refused.IsFaulted);
            Assert.AreEqual(RoomErrors.UnknownRoom, ((DoodleServerException)refused.Exception.InnerException).Error.Code);
            Assert.IsFalse(other.InRoom);
            Assert.AreEqual(2, lost.Count);
            s.Dispose();
            other.Dispose();
        }
    }
}
