// Unity Test Framework tests of the map-free guesses decoder and of building messages in a game's own
// tests (their constructors are public). No server, no UnityEngine.

using System;
using System.Collections.Generic;
using Doodlestream.MsgPack;
using NUnit.Framework;

namespace Doodlestream.Tests
{
    /// <summary>GuessesMessage.Decode reads what ServerMessage.Parse reads; messages can be built by hand.</summary>
    public sealed class MessageTests
    {
        private static Dictionary<string, object> Guesses(bool withTarget)
        {
            var map = new Dictionary<string, object>
            {
                { "type", "guesses" }, { "seq", 41L }, { "strokes", 3L }, { "ms", 2.25 }, { "live", true }, { "drawing", "dr4wing" },
                { "future_field", new object[] { 1L, "x", new Dictionary<string, object> { { "deep", 2.5 } } } },
                {
                    "guesses", new object[]
                    {
                        new Dictionary<string, object> { { "word", "cat" }, { "score", 0.5f } },
                        new Dictionary<string, object> { { "score", 0.25 }, { "word", "b\u00e4r" }, { "extra", null } },
                        new Dictionary<string, object> { { "word", "sun" }, { "score", 0L } },
                    }
                },
            };
            if (withTarget) map["target"] = new Dictionary<string, object> { { "word", "cat" }, { "score", 0.5 }, { "rank", 1L } };
            return map;
        }

        private static void AssertSame(GuessesMessage a, GuessesMessage b)
        {
            Assert.AreEqual(a.Seq, b.Seq);
            Assert.AreEqual(a.Strokes, b.Strokes);
            Assert.AreEqual(a.Ms, b.Ms, 1e-12);
            Assert.AreEqual(a.Live, b.Live);
            Assert.AreEqual(a.Drawing, b.Drawing);
            Assert.AreEqual(a.Guesses.Count, b.Guesses.Count);
            for (int i = 0; i < a.Guesses.Count; i++)
            {
                Assert.AreEqual(a.Guesses[i].Word, b.Guesses[i].Word);
                Assert.AreEqual(a.Guesses[i].Score, b.Guesses[i].Score, 1e-12);
            }
            Assert.AreEqual(a.Target == null, b.Target == null);
            if (a.Target != null)
            {
                Assert.AreEqual(a.Target.Word, b.Target.Word);
                Assert.AreEqual(a.Target.Rank, b.Target.Rank);
            }
            Assert.AreEqual(a.Fields.Count, b.Fields.Count);
        }

        /// <summary>Decode (no maps, cached strings) and Parse (maps) agree, with and without a target, unknown fields skipped.</summary>
        [Test]
        public void DecodeAgreesWithParse()
        {
            var cache = new Utf8Cache();
            foreach (bool withTarget in new[] { false, true })
            {
                var map = Guesses(withTarget);
                byte[] frame = MsgPackCodec.Serialize(map);
                var parsed = (GuessesMessage)ServerMessage.Parse(map);
                var decoded = GuessesMessage.Decode(frame, 0, frame.Length, cache);
                AssertSame(parsed, decoded);
                var again = GuessesMessage.Decode(frame, 0, frame.Length, cache);
                Assert.IsTrue(ReferenceEquals(decoded.Guesses[0].Word, again.Guesses[0].Word), "a word seen before is not allocated again");
                Assert.AreEqual("b\u00e4r", again.Guesses[1].Word); // non-ASCII decoded, never confused with a cached string
            }
        }

        /// <summary>Decode refuses a guesses frame without its required fields, and truncated frames.</summary>
        [Test]
        public void DecodeRefusesBrokenFrames()
        {
            var map = Guesses(false);
            map.Remove("strokes");
            byte[] frame = MsgPackCodec.Serialize(map);
            Assert.Throws<DoodleProtocolException>(() => GuessesMessage.Decode(frame, 0, frame.Length, new Utf8Cache()));
            byte[] whole = MsgPackCodec.Serialize(Guesses(true));
            for (int n = 0; n < whole.Length; n += 7)
            {
                int cut = n;
                Assert.Throws<MsgPackException>(() => GuessesMessage.Decode(whole, 0, cut, new Utf8Cache()));
            }
        }

        /// <summary>A game builds the messages its handlers get, through the public constructors.</summary>
        [Test]
        public void MessagesCanBeBuiltForAGamesTests()
        {
            var g = new GuessesMessage(Guesses(true));
            Assert.AreEqual("cat", g.TopWord);
            var r = new RecognizedMessage(new Dictionary<string, object> { { "type", "recognized" }, { "word", "cat" }, { "score", 0.9 }, { "strokes", 2L }, { "ms", 800L } });
            Assert.AreEqual("cat", r.Word);
            var e = new ErrorMessage(new Dictionary<string, object> { { "type", "error" }, { "code", "rate_limited" } });
            Assert.AreEqual("rate_limited", e.Code);
        }

        /// <summary>Floats are written and read by bit-casts: the value comes back exactly, NaN and infinities included.</summary>
        [Test]
        public void FloatsRoundTripExactly()
        {
            foreach (float f in new[] { 0f, -0.1f, 1.5e-39f, float.MaxValue, float.NegativeInfinity, 3.14159f })
            {
                var w = new MsgPackWriter();
                w.WriteFloat(f);
                Assert.AreEqual(5, w.Length);
                Assert.AreEqual(f, (float)MsgPackCodec.Deserialize(w.ToArray()));
            }
            var nan = new MsgPackWriter();
            nan.WriteFloat(float.NaN);
            Assert.IsTrue(float.IsNaN((float)MsgPackCodec.Deserialize(nan.ToArray())));
        }
    }
}
