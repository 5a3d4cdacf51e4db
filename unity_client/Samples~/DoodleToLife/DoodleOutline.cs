// Sample "Doodle To Life": a collider from a doodle's own outline. Plain C# (no UnityEngine), so it
// is unit-tested under Mono against OpenCV's convex hull (tests/test_unity_client.py).

using System;
using System.Collections.Generic;

namespace Doodlestream.Samples
{
    /// <summary>
    /// The outline of a doodle's sprite as a polygon for a PolygonCollider2D: the convex hull of its
    /// opaque pixels (a doodle is thin lines; the hull is the solid thing they draw), reduced to at
    /// most a given number of corners by dropping the corner that loses the least area, which keeps
    /// the polygon around every opaque pixel.
    /// </summary>
    public static class DoodleOutline
    {
        /// <summary>Most corners by default: plenty for a collider, cheap for the physics.</summary>
        public const int DefaultMaxPoints = 24;

        /// <summary>The hull of the pixels whose alpha is at least <paramref name="threshold"/>, as
        /// x0, y0, x1, y1... counter-clockwise, in pixels from the image's bottom-left corner (rows bottom
        /// to top, as Texture2D.GetPixels32 gives them), each pixel a unit square. Empty when no pixel is opaque.</summary>
        /// <param name="alpha">width x height alpha values, row by row.</param>
        /// <param name="width">Pixels per row.</param>
        /// <param name="height">Rows.</param>
        /// <param name="threshold">Lowest alpha that counts as drawn.</param>
        /// <param name="maxPoints">Most corners (at least 3).</param>
        public static float[] Hull(byte[] alpha, int width, int height, byte threshold = 16, int maxPoints = DefaultMaxPoints)
        {
            if (alpha == null) throw new ArgumentNullException("alpha");
            if (width <= 0 || height <= 0 || alpha.Length < width * height) throw new ArgumentException("alpha must hold width x height values");
            if (maxPoints < 3) throw new ArgumentOutOfRangeException("maxPoints", "a polygon needs 3 corners");
            // Each row's leftmost and rightmost opaque pixels, as the corners of their squares: the hull of these is the hull of all.
            var pts = new List<P>();
            for (int row = 0; row < height; row++)
            {
                int first = -1, last = -1;
                for (int col = 0; col < width; col++)
                {
                    if (alpha[row * width + col] < threshold) continue;
                    if (first < 0) first = col;
                    last = col;
                }
                if (first < 0) continue;
                pts.Add(new P(first, row));
                pts.Add(new P(first, row + 1));
                pts.Add(new P(last + 1, row));
                pts.Add(new P(last + 1, row + 1));
            }
            if (pts.Count == 0) return new float[0];
            var hull = MonotoneChain(pts);
            while (hull.Count > maxPoints) DropCheapestCorner(hull);
            var xy = new float[hull.Count * 2];
            for (int i = 0; i < hull.Count; i++)
            {
                xy[2 * i] = (float)hull[i].X;
                xy[2 * i + 1] = (float)hull[i].Y;
            }
            return xy;
        }

        /// <summary>Pixel coordinates (from <see cref="Hull"/>) moved to a sprite's local space: centred on the
        /// image (a pivot in the middle) and scaled by 1 / <paramref name="pixelsPerUnit"/>.</summary>
        public static float[] ToLocal(float[] hull, int width, int height, float pixelsPerUnit)
        {
            if (pixelsPerUnit <= 0) throw new ArgumentOutOfRangeException("pixelsPerUnit", "must be positive");
            var local = new float[hull.Length];
            for (int i = 0; i + 1 < hull.Length; i += 2)
            {
                local[i] = (hull[i] - width / 2f) / pixelsPerUnit;
                local[i + 1] = (hull[i + 1] - height / 2f) / pixelsPerUnit;
            }
            return local;
        }

        /// <summary>A circle for a round doodle: the radius whose area equals the polygon's (same units).</summary>
        public static float Radius(float[] polygon)
        {
            return (float)Math.Sqrt(Area(polygon) / Math.PI);
        }

        /// <summary>The area of a polygon given as x0, y0, x1, y1... (shoelace formula; positive for counter-clockwise).</summary>
        public static double Area(float[] polygon)
        {
            double twice = 0;
            int n = polygon.Length / 2;
            for (int i = 0; i < n; i++)
            {
                int j = (i + 1) % n;
                twice += (double)polygon[2 * i] * polygon[2 * j + 1] - (double)polygon[2 * j] * polygon[2 * i + 1];
            }
            return twice / 2;
        }

        private struct P
        {
            public readonly double X, Y;

            public P(double x, double y)
            {
                X = x;
                Y = y;
            }
        }

        // Andrew's monotone chain: the convex hull, counter-clockwise, without collinear points.
        private static List<P> MonotoneChain(List<P> pts)
        {
            pts.Sort((a, b) => a.X != b.X ? a.X.CompareTo(b.X) : a.Y.CompareTo(b.Y));
            var hull = new List<P>();
            for (int pass = 0; pass < 2; pass++)
            {
                int start = hull.Count;
                for (int k = 0; k < pts.Count; k++)
                {
                    var p = pts[pass == 0 ? k : pts.Count - 1 - k];
                    while (hull.Count >= start + 2 && Cross(hull[hull.Count - 2], hull[hull.Count - 1], p) <= 0) hull.RemoveAt(hull.Count - 1);
                    hull.Add(p);
                }
                hull.RemoveAt(hull.Count - 1); // the last point of each half is the first of the other
            }
            return hull;
        }

        private static double Cross(P o, P a, P b)
        {
            return (a.X - o.X) * (b.Y - o.Y) - (a.Y - o.Y) * (b.X - o.X);
        }

        // Replaces the two edges around the corner whose removal costs the least area by one edge along the
        // extension of its neighbours' edges, so the polygon still holds every pixel: the corner's neighbours
        // move out to where the edges before and after them meet.
        private static void DropCheapestCorner(List<P> hull)
        {
            int n = hull.Count, best = -1;
            double bestCost = double.MaxValue;
            double bx = 0, by = 0;
            for (int i = 0; i < n; i++)
            {
                // Drop edge (i, i+1): extend edge (i-1, i) and edge (i+1, i+2) until they meet.
                var a = hull[(i - 1 + n) % n];
                var b = hull[i];
                var c = hull[(i + 1) % n];
                var d = hull[(i + 2) % n];
                double x, y;
                if (!Intersect(a, b, c, d, out x, out y)) continue;
                double cost = Math.Abs((b.X - x) * (c.Y - y) - (b.Y - y) * (c.X - x)) / 2; // triangle b, c, meet point
                if (cost < bestCost)
                {
                    bestCost = cost;
                    best = i;
                    bx = x;
                    by = y;
                }
            }
            if (best < 0)
            {
                hull.RemoveAt(0); // degenerate (parallel edges everywhere): cannot happen for a convex polygon of 4+ corners
                return;
            }
            int next = (best + 1) % n;
            hull[best] = new P(bx, by);
            hull.RemoveAt(next);
        }

        // Where the line through a, b meets the line through c, d, when it lies beyond b and before c (a convex corner cut).
        private static bool Intersect(P a, P b, P c, P d, out double x, out double y)
        {
            double r1x = b.X - a.X, r1y = b.Y - a.Y, r2x = d.X - c.X, r2y = d.Y - c.Y;
            double den = r1x * r2y - r1y * r2x;
            x = y = 0;
            if (Math.Abs(den) < 1e-12) return false;
            double t = ((c.X - a.X) * r2y - (c.Y - a.Y) * r2x) / den;
            if (t < 1) return false; // the meet point must lie beyond b
            x = a.X + t * r1x;
            y = a.Y + t * r1y;
            double u = ((x - c.X) * r2x + (y - c.Y) * r2y);
            return u <= 0; // and before c on the line c -> d
        }
    }
}
