// A compile-time stand-in for the parts of Unity's API that unity_client's MonoBehaviours use.
// Signatures follow Unity 2021 LTS (UnityEngine.CoreModule and friends); bodies do the least they can.
// tests/test_unity_client.py compiles DoodleStreamBehaviour.cs and Samples/DrawWithMouse.cs against
// it so that a typo or a wrong signature in them fails CI without a Unity installation, and
// tests/unity/BehaviourHarness.cs runs DoodleStreamBehaviour on it (Debug.Log* print to stderr).
// Add a member here only as Unity declares it.

#pragma warning disable 1591, 0649, 0169

using System;
using System.Collections.Generic;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static void Destroy(Object obj) { }
        public static void DontDestroyOnLoad(Object target) { }
        public static T FindObjectOfType<T>() where T : Object { return null; }
        public static implicit operator bool(Object exists) { return !ReferenceEquals(exists, null); }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public Transform transform { get { return null; } }
        public T GetComponent<T>() { return default(T); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
        public bool isActiveAndEnabled { get { return true; } }
    }

    public class MonoBehaviour : Behaviour { }

    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public Transform transform { get { return null; } }
        public T AddComponent<T>() where T : Component { return null; }
    }

    public class Transform : Component
    {
        public Transform root { get { return this; } }
        public Vector3 position { get; set; }
        public Vector3 localScale { get; set; }
        public void SetParent(Transform parent, bool worldPositionStays) { }
    }

    public struct Vector2
    {
        public float x, y;
        public Vector2(float x, float y) { this.x = x; this.y = y; }
        public static Vector2 zero { get { return default(Vector2); } }
        public static float Distance(Vector2 a, Vector2 b) { return 0f; }
        public static implicit operator Vector2(Vector3 v) { return new Vector2(v.x, v.y); }
        public static implicit operator Vector3(Vector2 v) { return new Vector3(v.x, v.y, 0f); }
    }

    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static float Distance(Vector3 a, Vector3 b) { return 0f; }
    }

    public struct Color
    {
        public float r, g, b, a;
        public Color(float r, float g, float b, float a) { this.r = r; this.g = g; this.b = b; this.a = a; }
        public static Color black { get { return new Color(0, 0, 0, 1); } }
        public static Color white { get { return new Color(1, 1, 1, 1); } }
    }

    public struct Rect
    {
        public Rect(float x, float y, float width, float height) { }
    }

    public static class Random
    {
        public static int Range(int minInclusive, int maxExclusive) { return minInclusive; }
    }

    public static class Mathf
    {
        public static float Round(float f) { return (float)Math.Round(f); }
        public static int Max(int a, int b) { return Math.Max(a, b); }
        public static float Max(float a, float b) { return Math.Max(a, b); }
        public static float Min(float a, float b) { return Math.Min(a, b); }
    }

    public static class Debug
    {
        public static void Log(object message) { Console.Error.WriteLine(message); }
        public static void Log(object message, Object context) { Console.Error.WriteLine(message); }
        public static void LogWarning(object message, Object context) { Console.Error.WriteLine(message); }
        public static void LogError(object message, Object context) { Console.Error.WriteLine(message); }
        public static void LogException(Exception exception, Object context) { Console.Error.WriteLine(exception); }
    }

    public static class Time
    {
        // A real clock, as Unity's: the pumped connection (WebGL) measures its timeouts and back-off on it.
        private static readonly System.Diagnostics.Stopwatch Clock = System.Diagnostics.Stopwatch.StartNew();
        public static float realtimeSinceStartup { get { return (float)Clock.Elapsed.TotalSeconds; } }
        public static double realtimeSinceStartupAsDouble { get { return Clock.Elapsed.TotalSeconds; } }
        public static float time { get { return (float)Clock.Elapsed.TotalSeconds; } }
    }

    public struct Color32
    {
        public byte r, g, b, a;
        public Color32(byte r, byte g, byte b, byte a) { this.r = r; this.g = g; this.b = b; this.a = a; }
    }

    public enum ForceMode2D { Force = 0, Impulse = 1 }

    // Unity 2021 names (velocity, drag, angularDrag) and Unity 6 ones (linearVelocity, linearDamping,
    // angularDamping; the old ones are obsolete there): the samples use each under UNITY_6000_0_OR_NEWER or not.
    public sealed class Rigidbody2D : Component
    {
        public float mass { get; set; }
        public float gravityScale { get; set; }
        public float drag { get; set; }
        public float angularDrag { get; set; }
        public Vector2 velocity { get; set; }
        public float linearDamping { get; set; }
        public float angularDamping { get; set; }
        public Vector2 linearVelocity { get; set; }
        public void AddForce(Vector2 force) { }
        public void AddForce(Vector2 force, ForceMode2D mode) { }
        public void AddTorque(float torque) { }
    }

    public class Collider2D : Behaviour { }

    public sealed class PolygonCollider2D : Collider2D
    {
        public Vector2[] points { get; set; }
    }

    public sealed class CircleCollider2D : Collider2D
    {
        public float radius { get; set; }
    }

    public static class Physics2D
    {
        public static Vector2 gravity { get { return new Vector2(0, -9.81f); } set { } }
    }

    public static class Screen
    {
        public static int width { get { return 0; } }
        public static int height { get { return 0; } }
    }

    public enum KeyCode
    {
        None = 0,
        Backspace = 8,
        Return = 13,
        Escape = 27,
        Space = 32,
        C = 99,
        S = 115,
        Z = 122,
    }

    public static class Input
    {
        public static Vector3 mousePosition { get { return default(Vector3); } }
        public static bool GetMouseButton(int button) { return false; }
        public static bool GetMouseButtonDown(int button) { return false; }
        public static bool GetMouseButtonUp(int button) { return false; }
        public static bool GetKeyDown(KeyCode key) { return false; }
    }

    public sealed class Camera : Behaviour
    {
        public static Camera main { get { return null; } }
        public Vector3 ScreenToWorldPoint(Vector3 position) { return position; }
    }

    public sealed class Shader : Object
    {
        public static Shader Find(string name) { return null; }
    }

    public class Material : Object
    {
        public Material(Shader shader) { }
    }

    public class Renderer : Component
    {
        public int sortingOrder { get; set; }
        public Material material { get; set; }
    }

    public sealed class LineRenderer : Renderer
    {
        public bool useWorldSpace { get; set; }
        public Color startColor { get; set; }
        public Color endColor { get; set; }
        public float startWidth { get; set; }
        public float endWidth { get; set; }
        public int numCapVertices { get; set; }
        public int numCornerVertices { get; set; }
        public int positionCount { get; set; }
        public void SetPosition(int index, Vector3 position) { }
    }

    public sealed class SpriteRenderer : Renderer
    {
        public Sprite sprite { get; set; }
    }

    public enum TextureFormat { RGBA32 = 4, ARGB32 = 5 }

    public enum FilterMode { Point = 0, Bilinear = 1, Trilinear = 2 }

    public class Texture : Object
    {
        public virtual int width { get { return 0; } set { } }
        public virtual int height { get { return 0; } set { } }
        public FilterMode filterMode { get; set; }
    }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain) { }
        public Color32[] GetPixels32() { return new Color32[0]; }
    }

    public static class ImageConversion
    {
        public static bool LoadImage(this Texture2D tex, byte[] data) { return false; }
        public static bool LoadImage(this Texture2D tex, byte[] data, bool markNonReadable) { return false; }
    }

    public sealed class Sprite : Object
    {
        public static Sprite Create(Texture2D texture, Rect rect, Vector2 pivot, float pixelsPerUnit) { return null; }
        public Texture2D texture { get { return null; } }
    }

    public sealed class GUI
    {
        public static void Label(Rect position, string text) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class SerializeField : Attribute { }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class TooltipAttribute : Attribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public sealed class HeaderAttribute : Attribute
    {
        public HeaderAttribute(string header) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class RangeAttribute : Attribute
    {
        public RangeAttribute(float min, float max) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class MinAttribute : Attribute
    {
        public MinAttribute(float min) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class DisallowMultipleComponent : Attribute { }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }
}

namespace UnityEngine.Events
{
    public delegate void UnityAction<T0>(T0 arg0);

    [Serializable]
    public abstract class UnityEventBase { }

    [Serializable]
    public class UnityEvent<T0> : UnityEventBase
    {
        private readonly List<UnityAction<T0>> _listeners = new List<UnityAction<T0>>();
        public void AddListener(UnityAction<T0> call) { _listeners.Add(call); }
        public void RemoveListener(UnityAction<T0> call) { _listeners.Remove(call); }
        public void Invoke(T0 arg0) { foreach (var l in _listeners) l(arg0); }
    }
}
