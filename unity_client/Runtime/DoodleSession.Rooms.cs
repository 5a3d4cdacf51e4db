// DoodleSession's rooms (protocol v1.2, feature "rooms"): the calls, the events, the room and turn in
// play, and the seat kept across reconnects (a new connection rejoins with the seat's key).

using System;
using System.Collections.Generic;
using System.Threading.Tasks;

namespace Doodlestream
{
    public sealed partial class DoodleSession
    {
        private string _roomCode, _roomKey; // the seat held: a new connection rejoins it
        private long? _rejoinSeq;
        private Joining _joining; // a JoinRoom not yet answered
        private string _urlRoom; // the room code the current connection's URL names, or null

        /// <summary>A <see cref="JoinRoom"/> under way: sent on the connection of the moment, again on the next one.</summary>
        private sealed class Joining
        {
            public string Code, Name;
            public long? Seq;
            public bool Rerouted;
            public TaskCompletionSource<RoomMessage> Done;
        }

        /// <summary>The room as last seen (null: in no room). After a drop it stays, and a reconnect rejoins the seat.</summary>
        public RoomMessage Room { get; private set; }
        /// <summary>The turn being played in the room, or null (the lobby, between turns).</summary>
        public TurnMessage Turn { get; private set; }
        /// <summary>True while the session holds a seat in a room.</summary>
        public bool InRoom { get { return HoldsSeat; } }
        /// <summary>True while this player draws the room's turn: draw as always; the others see it as <see cref="Drawn"/>.</summary>
        public bool IsDrawer { get { return Turn != null && Room != null && Turn.Drawer == Room.You; } }

        private bool HoldsSeat { get { return _roomKey != null; } }

        /// <summary>v1.2: the room, after every change (create, join, start, other players joining, leaving, dropping).</summary>
        public event Action<RoomMessage> RoomReceived;
        /// <summary>v1.2: a turn begins (or goes on, after a rejoin). The kept drawing starts empty: the drawer draws from here.</summary>
        public event Action<TurnMessage> TurnStarted;
        /// <summary>v1.2: the drawer's strokes as they arrive (another player's turn), or the turn so far after a (re)join.</summary>
        public event Action<DrawnMessage> Drawn;
        /// <summary>v1.2: the AI's guesses after each of the drawer's pen-ups.</summary>
        public event Action<AiMessage> AiGuessed;
        /// <summary>v1.2: a player (or the AI) guessed.</summary>
        public event Action<GuessedMessage> Guessed;
        /// <summary>v1.2: a turn is over (the word, the points, the scores).</summary>
        public event Action<TurnEndMessage> TurnEnded;
        /// <summary>v1.2: the game is over; the room is back in its lobby.</summary>
        public event Action<GameEndMessage> GameEnded;
        /// <summary>v1.2: the session left its room (<see cref="LeaveRoom"/>, or its seat was taken by a rejoin elsewhere).</summary>
        public event Action<RoomLeftMessage> RoomLeft;
        /// <summary>v1.2: the room ended; the session is in no room.</summary>
        public event Action<RoomEndedMessage> RoomEnded;

        /// <summary>Opens a room and sits in it as host; <see cref="RoomReceived"/> follows. See <see cref="DoodleClient.CreateRoom"/>.</summary>
        public long? CreateRoom(string name, int? rounds = null, int? seconds = null, IList<string> words = null)
        {
            return Try(c => c.CreateRoom(name, rounds, seconds, words));
        }

        /// <summary><see cref="CreateRoom"/>, waiting for the room.</summary>
        /// <exception cref="InvalidOperationException">Not connected.</exception>
        public Task<RoomMessage> CreateRoomAsync(string name, int? rounds = null, int? seconds = null, IList<string> words = null)
        {
            return Ask(c => c.CreateRoomAsync(name, rounds, seconds, words));
        }

        /// <summary>Sits in room <paramref name="code"/> (any case, dash or not); <see cref="RoomReceived"/> follows, or an
        /// error (<see cref="RoomErrors"/>). Sent now when connected (its <c>seq</c> is returned), else on the next
        /// connection (null). Behind a balancer the room may live on another server: an <c>unknown_room</c> from a
        /// connection that did not name the room is not raised; the session reconnects once with
        /// <c>?room=CODE</c> (<see cref="DoodleTransportUrls.WithRoom"/>), which reaches the room's server, and asks again.</summary>
        public long? JoinRoom(string code, string name)
        {
            StartJoin(code, name, null);
            return _joining != null ? _joining.Seq : null;
        }

        /// <summary><see cref="JoinRoom"/>, waiting for the room (across a reconnect, if one is needed).</summary>
        /// <exception cref="DoodleServerException">The server refused it (<c>unknown_room</c>, <c>room_full</c>...).</exception>
        public Task<RoomMessage> JoinRoomAsync(string code, string name)
        {
            var done = new TaskCompletionSource<RoomMessage>();
            StartJoin(code, name, done);
            return done.Task;
        }

        // The room a new connection names in its URL (?room=CODE): the seat held, else the room being joined.
        private Uri RoutedUrl(Uri url)
        {
            _rejoinSeq = null; // seqs start again on each connection
            if (_joining != null) _joining.Seq = null;
            _urlRoom = _roomCode ?? (_joining != null ? _joining.Code : null);
            return _urlRoom == null ? url : new Uri(DoodleTransportUrls.WithRoom(url, _urlRoom));
        }

        private void StartJoin(string code, string name, TaskCompletionSource<RoomMessage> done)
        {
            if (code == null) throw new ArgumentNullException("code");
            if (name == null) throw new ArgumentNullException("name");
            string normal = code.Replace("-", "").Replace(" ", "").ToUpperInvariant();
            if (normal.Length == 0) throw new ArgumentException("a room code has 8 characters (such as 'K7QM-XT4P')", "code");
            CancelJoin();
            _joining = new Joining { Code = normal, Name = name, Done = done };
            try
            {
                SendJoin(_client);
            }
            catch (ArgumentException) // a name or code the server would refuse
            {
                _joining = null;
                throw;
            }
        }

        private void SendJoin(DoodleClient client)
        {
            var j = _joining;
            if (client == null || j == null) return;
            try
            {
                j.Seq = client.JoinRoom(j.Code, j.Name);
            }
            catch (InvalidOperationException) // not connected any more: the next connection sends it
            {
                j.Seq = null;
            }
            catch (ArgumentException e) when (client != _client) // a name this server's limits refuse, found on connecting
            {
                _joining = null;
                if (j.Done != null) j.Done.TrySetException(e);
                Say("cannot join room " + j.Code + ": " + e.Message);
            }
        }

        private void CancelJoin()
        {
            var j = _joining;
            _joining = null;
            if (j != null && j.Done != null) j.Done.TrySetCanceled();
        }

        // An error answering the join: an unknown room asked on a connection that did not name it is asked
        // again, once, through the room's server (true: not to be raised); any other ends the join.
        private bool JoinRefused(ErrorMessage m)
        {
            var j = _joining;
            if (j == null || m.Seq != j.Seq) return false;
            if (m.Code == RoomErrors.UnknownRoom && !j.Rerouted && _urlRoom != j.Code)
            {
                j.Rerouted = true;
                j.Seq = null;
                Say("room " + j.Code + " is not on this server: reconnecting through ?room=" + j.Code);
                double now = _nowS;
                Stop(true);
                Start(now);
                return true;
            }
            _joining = null;
            if (j.Done != null) j.Done.TrySetException(new DoodleServerException(m));
            return false;
        }

        /// <summary>Leaves the room for good (the seat is not rejoined after a reconnect); <see cref="RoomLeft"/> follows.</summary>
        public long? LeaveRoom()
        {
            CancelJoin();
            long? seq = Try(c => c.LeaveRoom());
            ForgetRoom(null);
            return seq;
        }

        /// <summary><see cref="LeaveRoom"/>, waiting for the <c>room_left</c>.</summary>
        /// <exception cref="InvalidOperationException">Not connected (the seat is forgotten all the same).</exception>
        public Task<RoomLeftMessage> LeaveRoomAsync()
        {
            CancelJoin();
            ForgetRoom(null);
            return Ask(c => c.LeaveRoomAsync());
        }

        /// <summary>The host starts a game; <see cref="TurnStarted"/> follows for every member.</summary>
        public long? StartRoom()
        {
            return Try(c => c.StartRoom());
        }

        /// <summary><see cref="StartRoom"/>, waiting for its answer.</summary>
        /// <exception cref="InvalidOperationException">Not connected.</exception>
        public Task<ServerMessage> StartRoomAsync()
        {
            return Ask(c => c.StartRoomAsync());
        }

        /// <summary>Guesses the word being drawn; <see cref="Guessed"/> follows.</summary>
        public long? SendGuess(string text)
        {
            return Try(c => c.SendGuess(text));
        }

        /// <summary><see cref="SendGuess"/>, waiting for this player's <c>guessed</c>.</summary>
        /// <exception cref="InvalidOperationException">Not connected.</exception>
        public Task<GuessedMessage> GuessAsync(string text)
        {
            return Ask(c => c.GuessAsync(text));
        }

        // A new connection takes the held seat back (after the settings, so the room's drawing replaces nothing it sets).
        private void Rejoin(DoodleClient client)
        {
            Say("rejoining room " + (Room != null ? Room.Shown : _roomCode));
            ForgetDrawing();
            _rejoinSeq = client.RejoinRoom(_roomCode, _roomKey);
        }

        // The answer to a rejoin was an error: the seat is gone (held too long, or the room ended).
        private void LostSeat(ErrorMessage m)
        {
            _rejoinSeq = null;
            ForgetRoom("the seat could not be rejoined (" + m.Code + ")");
        }

        private void ForgetRoom(string why)
        {
            if (why != null && HoldsSeat) Say("left room " + _roomCode + ": " + why);
            _roomCode = _roomKey = null;
            Room = null;
            Turn = null;
        }

        private void WireRooms(DoodleClient client)
        {
            client.RoomReceived += m =>
            {
                if (!Current(client)) return;
                if (m.Seq.HasValue && m.Seq == _rejoinSeq) _rejoinSeq = null;
                Room = m;
                _roomCode = m.Code;
                _roomKey = m.Key;
                if (!m.IsPlaying) Turn = null;
                var j = _joining;
                if (j != null && m.Seq.HasValue && m.Seq == j.Seq)
                {
                    _joining = null;
                    if (j.Done != null) j.Done.TrySetResult(m);
                }
                Raise(RoomReceived, m);
            };
            client.TurnStarted += m =>
            {
                if (!Current(client)) return;
                Turn = m;
                ForgetDrawing(); // the server cleared the drawer's drawing
                LastGuesses = null;
                Raise(TurnStarted, m);
            };
            client.Drawn += m =>
            {
                if (!Current(client)) return;
                if (m.Op == "replay" && Room != null && m.Player == Room.You) KeepReplayed(m);
                Raise(Drawn, m);
            };
            client.AiGuessed += m => { if (Current(client)) Raise(AiGuessed, m); };
            client.Guessed += m => { if (Current(client)) Raise(Guessed, m); };
            client.TurnEnded += m =>
            {
                if (!Current(client)) return;
                Turn = null;
                ForgetDrawing();
                Raise(TurnEnded, m);
            };
            client.GameEnded += m =>
            {
                if (!Current(client)) return;
                Turn = null;
                Raise(GameEnded, m);
            };
            client.RoomLeft += m =>
            {
                if (!Current(client)) return;
                ForgetRoom(m.Reason);
                Raise(RoomLeft, m);
            };
            client.RoomEnded += m =>
            {
                if (!Current(client)) return;
                ForgetRoom("the room ended");
                Raise(RoomEnded, m);
            };
        }

        // The drawer rejoined: its drawing is the turn's so far, as the server replayed it.
        private void KeepReplayed(DrawnMessage m)
        {
            ForgetDrawing();
            foreach (var s in m.Strokes) _finished.Add(Copy(s));
            if (m.Pending != null) _current = Copy(m.Pending);
        }

        private Stroke Copy(Stroke s)
        {
            var c = NewStroke();
            for (int i = 0; i < s.Count; i++) c.Add(s.X[i], s.Y[i], s.T != null ? s.T[i] : 0);
            return c;
        }
    }
}
