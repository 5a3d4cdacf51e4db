// Unity Test Framework tests of the client's codec, message parsing and back-off: no server, no
// UnityEngine, so they run in Edit Mode and Play Mode on every platform (IL2CPP players included).
// Our CI runs this same file under Mono (tests/test_unity_client.py) with a small NUnit stand-in.

using System;
using System.Collections.Generic;
using Doodlestream.MsgPack;
using NUnit.Framework;

namespace Doodlestream.Tests
{
    /// <summary>The msgpack codec round-trips the protocol's values and refuses broken frames.</summary>
    public sealed class CodecTests
    {
        private static byte[] GuessesFrame()
        {
            var w = new MsgPackWriter();
            w.WriteMapHeader(6);
            w.WriteString("type"); w.WriteString("guesses");
            w.WriteString("seq"); w.WriteInt(7);
            w.WriteString("strokes"); w.WriteInt(2);
            w.WriteString("ms"); w.WriteDouble(3.5);
            w.WriteString("drawing"); w.WriteString("k3y");
            w.WriteString("guesses");
            w.WriteArrayHeader(2);
            w.WriteMapHeader(2); w.WriteString("word"); w.WriteString("cat"); w.WriteString("score"); w.WriteFloat(0.75f);
            w.WriteMapHeader(2); w.WriteString("word"); w.WriteString("d\u00f6g"); w.WriteString("score"); w.WriteFloat(0.25f);
            return w.ToArray();
        }

        /// <summary>A guesses frame decodes and parses into a typed message.</summary>
        [Test]
        public void GuessesFrameParses()
        {
            var map = (IDictionary<string, object>)MsgPackCodec.Deserialize(GuessesFrame());
            var g = (GuessesMessage)ServerMessage.Parse(map);
            Assert.AreEqual(7L, g.Seq);
            Assert.AreEqual(2, g.Strokes);
            Assert.AreEqual("cat", g.TopWord);
            Assert.AreEqual("d\u00f6g", g.Guesses[1].Word);
            Assert.AreEqual(0.25, g.Guesses[1].Score, 1e-6);
        }

        /// <summary>Values survive Serialize then Deserialize, ints of every width included.</summary>
        [Test]
        public void ValuesRoundTrip()
        {
            var value = new Dictionary<string, object>
            {
                { "ints", new object[] { 0L, -1L, 127L, 128L, -33L, 65536L, long.MinValue, long.MaxValue } },
                { "s", "h\u00e9llo" },
                { "bin", new byte[] { 0, 1, 255 } },
                { "nil", null },
                { "t", true },
            };
            var back = (IDictionary<string, object>)MsgPackCodec.Deserialize(MsgPackCodec.Serialize(value));
            Assert.AreEqual(new object[] { 0L, -1L, 127L, 128L, -33L, 65536L, long.MinValue, long.MaxValue }, back["ints"]);
            Assert.AreEqual("h\u00e9llo", back["s"]);
            Assert.AreEqual(new byte[] { 0, 1, 255 }, back["bin"]);
            Assert.IsNull(back["nil"]);
            Assert.AreEqual(true, back["t"]);
        }

        /// <summary>Every truncation of a frame raises MsgPackException, never another exception.</summary>
        [Test]
        public void TruncatedFramesAreRefused()
        {
            var frame = GuessesFrame();
            for (int n = 0; n < frame.Length; n++)
            {
                var cut = new byte[n];
                Array.Copy(frame, cut, n);
                Assert.Throws<MsgPackException>(() => MsgPackCodec.Deserialize(cut));
            }
        }

        /// <summary>A message without a type is a protocol error.</summary>
        [Test]
        public void MessageWithoutTypeIsRefused()
        {
            Assert.Throws<DoodleProtocolException>(() => ServerMessage.Parse(new Dictionary<string, object> { { "seq", 1L } }));
        }

        /// <summary>Escalate floors the next delay at Initial x 2^steps, still capped.</summary>
        [Test]
        public void BackoffEscalates()
        {
            var b = new Backoff(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(4), 1);
            b.Escalate(2);
            Assert.IsTrue(b.Next().TotalSeconds >= 2.0 - 1e-9);
            b.Escalate(10);
            Assert.AreEqual(4.0, b.Next().TotalSeconds, 1e-9);
        }

        /// <summary>v1.1 fields: a guesses' target and drawing key, a recognized message, welcome features.</summary>
        [Test]
        public void GameApiMessagesParse()
        {
            var target = new Dictionary<string, object> { { "word", "cat" }, { "score", 0.5 }, { "rank", 3L } };
            var g = (GuessesMessage)ServerMessage.Parse(new Dictionary<string, object>
            {
                { "type", "guesses" }, { "strokes", 1L }, { "ms", 2.0 }, { "guesses", new object[0] }, { "drawing", "k" }, { "target", target },
            });
            Assert.AreEqual("k", g.Drawing);
            Assert.AreEqual(3, g.Target.Rank);
            var r = (RecognizedMessage)ServerMessage.Parse(new Dictionary<string, object>
            {
                { "type", "recognized" }, { "word", "cat" }, { "score", 0.95 }, { "strokes", 2L }, { "ms", 1500L },
            });
            Assert.AreEqual("cat", r.Word);
            Assert.AreEqual(1500L, r.Ms);
            var w = (WelcomeMessage)ServerMessage.Parse(new Dictionary<string, object>
            {
                { "type", "welcome" }, { "protocol", 1L }, { "session", "s" }, { "model", "m" }, { "classes", 345L },
                { "protocol_minor", 1L }, { "features", new object[] { "target", "resume" } },
            });
            Assert.IsTrue(w.HasFeature("resume"));
            Assert.IsFalse(w.HasFeature("teach"));
        }

        /// <summary>Decorrelated jitter: each delay in [Initial, 3 x the previous], capped; Reset starts again; a restart spreads.</summary>
        [Test]
        public void BackoffIsDecorrelatedAndCapped()
        {
            var b = new Backoff(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(4), 1);
            double prev = 0.5;
            for (int i = 0; i < 20; i++)
            {
                double s = b.Next().TotalSeconds;
                Assert.IsTrue(s >= 0.5 - 1e-9 && s <= Math.Min(4, 3 * prev) + 1e-9, "delay " + s + " after " + prev);
                prev = s;
            }
            b.Reset();
            Assert.IsTrue(b.Next().TotalSeconds <= 1.5 + 1e-9);
            double r = b.NextAfterRestart().TotalSeconds;
            Assert.IsTrue(r >= 0 && r <= 4 + 1e-9, "restart delay " + r);
        }
    }
}
