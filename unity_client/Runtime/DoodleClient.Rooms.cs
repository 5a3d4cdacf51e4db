// DoodleClient's room calls and events (protocol v1.2, feature "rooms"): create, join, rejoin, leave,
// start, guess; room, turn, drawn, ai, guessed, turn_end, game_end, room_left, room_ended.

using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using Doodlestream.MsgPack;

namespace Doodlestream
{
    public sealed partial class DoodleClient
    {
        /// <summary>v1.2: the room as this player sees it, after every change (the answer to create, join, start too).</summary>
        public event Action<RoomMessage> RoomReceived;
        /// <summary>v1.2: a turn begins, or goes on after a rejoin.</summary>
        public event Action<TurnMessage> TurnStarted;
        /// <summary>v1.2: the drawer's points, pen-ups, undos and clears as they arrive; a replay of the turn after a (re)join.</summary>
        public event Action<DrawnMessage> Drawn;
        /// <summary>v1.2: the AI's guesses after each of the drawer's pen-ups.</summary>
        public event Action<AiMessage> AiGuessed;
        /// <summary>v1.2: a player (or the AI) guessed.</summary>
        public event Action<GuessedMessage> Guessed;
        /// <summary>v1.2: a turn is over.</summary>
        public event Action<TurnEndMessage> TurnEnded;
        /// <summary>v1.2: the game is over; the room is back in its lobby.</summary>
        public event Action<GameEndMessage> GameEnded;
        /// <summary>v1.2: this connection left the room (or its seat was rejoined elsewhere).</summary>
        public event Action<RoomLeftMessage> RoomLeft;
        /// <summary>v1.2: the room ended.</summary>
        public event Action<RoomEndedMessage> RoomEnded;

        private void DispatchRoom(ServerMessage msg)
        {
            if (msg is DrawnMessage) Raise(Drawn, (DrawnMessage)msg);
            else if (msg is AiMessage) Raise(AiGuessed, (AiMessage)msg);
            else if (msg is GuessedMessage) Raise(Guessed, (GuessedMessage)msg);
            else if (msg is RoomMessage) Raise(RoomReceived, (RoomMessage)msg);
            else if (msg is TurnMessage) Raise(TurnStarted, (TurnMessage)msg);
            else if (msg is TurnEndMessage) Raise(TurnEnded, (TurnEndMessage)msg);
            else if (msg is GameEndMessage) Raise(GameEnded, (GameEndMessage)msg);
            else if (msg is RoomLeftMessage) Raise(RoomLeft, (RoomLeftMessage)msg);
            else if (msg is RoomEndedMessage) Raise(RoomEnded, (RoomEndedMessage)msg);
        }

        /// <summary>Opens a room and takes its first seat as its host (feature <c>rooms</c>); <see cref="RoomReceived"/> follows.</summary>
        /// <param name="name">The player's name, 1..<c>max_name_chars</c> characters (shown to the others as text).</param>
        /// <param name="rounds">Rounds in a game, 1..<c>max_rounds</c> (null: the server's 3).</param>
        /// <param name="seconds">Seconds per turn, <c>min_turn_s</c>..<c>max_turn_s</c> (null: the server's 80).</param>
        /// <param name="words">The words turns are drawn from (model words or this session's custom words; null: every word).</param>
        public long CreateRoom(string name, int? rounds = null, int? seconds = null, IList<string> words = null)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildCreateRoom(name, rounds, seconds, words, out seq), seq, true);
            }
        }

        /// <summary><see cref="CreateRoom"/>, waiting for the <c>room</c>.</summary>
        /// <exception cref="DoodleServerException">The server refused it (<c>too_many_rooms</c>, <c>rate_limited</c>, <c>unknown_word</c>...).</exception>
        public Task<RoomMessage> CreateRoomAsync(string name, int? rounds = null, int? seconds = null, IList<string> words = null)
        {
            lock (_gate)
            {
                long seq;
                return Ask<RoomMessage>(BuildCreateRoom(name, rounds, seconds, words, out seq), seq);
            }
        }

        /// <summary>Takes a seat in room <paramref name="code"/> (any case, with or without its dash) as
        /// <paramref name="name"/>; <see cref="RoomReceived"/> follows (every member gets it), or
        /// <c>unknown_room</c> / <c>room_full</c>.</summary>
        public long JoinRoom(string code, string name)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildJoinRoom(code, CheckName(name, "name"), null, out seq), seq, true);
            }
        }

        /// <summary><see cref="JoinRoom"/>, waiting for the <c>room</c>.</summary>
        /// <exception cref="DoodleServerException">The server refused it (<c>unknown_room</c>, <c>room_full</c>...).</exception>
        public Task<RoomMessage> JoinRoomAsync(string code, string name)
        {
            lock (_gate)
            {
                long seq;
                return Ask<RoomMessage>(BuildJoinRoom(code, CheckName(name, "name"), null, out seq), seq);
            }
        }

        /// <summary>Takes a held seat back after a drop, within <c>room_rejoin_s</c>, with the seat's
        /// <see cref="RoomMessage.Key"/>: <see cref="RoomReceived"/>, then the current turn and its drawing
        /// so far (<see cref="Drawn"/>, op <c>replay</c>); or <c>unknown_seat</c>. <see cref="DoodleSession"/> does it by itself.</summary>
        public long RejoinRoom(string code, string key)
        {
            lock (_gate)
            {
                if (string.IsNullOrEmpty(key)) throw new ArgumentException("a rejoin key is needed", "key");
                long seq;
                return Send(BuildJoinRoom(code, null, key, out seq), seq, true);
            }
        }

        /// <summary>Leaves the room for good (a drawer's turn ends); <see cref="RoomLeft"/> follows.</summary>
        public long LeaveRoom()
        {
            lock (_gate)
            {
                long seq;
                return Send(Begin("room_leave", 0, out seq), seq, true);
            }
        }

        /// <summary><see cref="LeaveRoom"/>, waiting for the <c>room_left</c>.</summary>
        public Task<RoomLeftMessage> LeaveRoomAsync()
        {
            lock (_gate)
            {
                long seq;
                return Ask<RoomLeftMessage>(Begin("room_leave", 0, out seq), seq);
            }
        }

        /// <summary>The host starts a game (scores to 0, round 1): every member gets <see cref="RoomReceived"/> and <see cref="TurnStarted"/>;
        /// <c>not_host</c>, <c>not_now</c>.</summary>
        public long StartRoom()
        {
            lock (_gate)
            {
                long seq;
                return Send(Begin("room_start", 0, out seq), seq, true);
            }
        }

        /// <summary><see cref="StartRoom"/>, waiting for its answer (the room in play, or <c>room_started</c>).</summary>
        /// <exception cref="DoodleServerException">The server refused it (<c>not_host</c>, <c>not_now</c>).</exception>
        public Task<ServerMessage> StartRoomAsync()
        {
            lock (_gate)
            {
                long seq;
                return Ask<ServerMessage>(Begin("room_start", 0, out seq), seq);
            }
        }

        /// <summary>Guesses the word being drawn (1..<c>max_guess_chars</c> characters); <see cref="Guessed"/> follows
        /// (<c>not_now</c> between turns, for the drawer, or after a right guess; <c>rate_limited</c>).</summary>
        public long SendGuess(string text)
        {
            lock (_gate)
            {
                long seq;
                return Send(BuildGuess(text, out seq), seq, true);
            }
        }

        /// <summary><see cref="SendGuess"/>, waiting for this player's <c>guessed</c>.</summary>
        /// <exception cref="DoodleServerException">The server refused it.</exception>
        public Task<GuessedMessage> GuessAsync(string text)
        {
            lock (_gate)
            {
                long seq;
                return Ask<GuessedMessage>(BuildGuess(text, out seq), seq);
            }
        }

        private MsgPackWriter BuildCreateRoom(string name, int? rounds, int? seconds, IList<string> words, out long seq)
        {
            CheckName(name, "name");
            if (rounds.HasValue) CheckRange("rounds", rounds.Value, 1, Limit("max_rounds", 10));
            if (seconds.HasValue) CheckRange("seconds", seconds.Value, Limit("min_turn_s", 15), Limit("max_turn_s", 240));
            if (words != null)
            {
                CheckRange("words.Count", words.Count, 1, Limit("max_word_list", 345));
                foreach (var word in words) CheckWord(word, "words");
            }
            var w = Begin("room_create", 1 + (rounds.HasValue ? 1 : 0) + (seconds.HasValue ? 1 : 0) + (words != null ? 1 : 0), out seq);
            w.WriteString("name");
            w.WriteString(name);
            if (rounds.HasValue)
            {
                w.WriteString("rounds");
                w.WriteInt(rounds.Value);
            }
            if (seconds.HasValue)
            {
                w.WriteString("seconds");
                w.WriteInt(seconds.Value);
            }
            if (words != null)
            {
                w.WriteString("words");
                w.WriteArrayHeader(words.Count);
                foreach (var word in words) w.WriteString(word);
            }
            return w;
        }

        private MsgPackWriter BuildJoinRoom(string code, string name, string key, out long seq)
        {
            if (code == null) throw new ArgumentNullException("code");
            if (code.Trim().Length == 0 || code.Length > 32) throw new ArgumentException("a room code has 8 characters (such as 'K7QM-XT4P')", "code");
            var w = Begin("room_join", 2, out seq);
            w.WriteString("code");
            w.WriteString(code.Trim());
            w.WriteString(key != null ? "key" : "name");
            w.WriteString(key ?? name);
            return w;
        }

        private MsgPackWriter BuildGuess(string text, out long seq)
        {
            CheckText(text, "text", Limit("max_guess_chars", 48));
            var w = Begin("guess", 1, out seq);
            w.WriteString("text");
            w.WriteString(text);
            return w;
        }

        private string CheckName(string name, string what)
        {
            return CheckText(name, what, Limit("max_name_chars", 24));
        }

        // Text shown to other players: 1..max characters (Unicode code points, as the server counts them) once trimmed.
        private static string CheckText(string text, string what, double max)
        {
            if (text == null) throw new ArgumentNullException(what);
            string trimmed = text.Trim();
            int chars = 0;
            foreach (char c in trimmed)
                if (!char.IsLowSurrogate(c)) chars++;
            if (chars == 0 || chars > max)
                throw new ArgumentException(what + " must have 1.." + max + " characters (the server's limit), got " + chars, what);
            return text;
        }
    }
}
