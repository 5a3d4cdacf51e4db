// A compile-time stand-in for the parts of the Input System package (com.unity.inputsystem 1.x,
// assembly Unity.InputSystem) that the DrawWithMouse sample uses when ENABLE_INPUT_SYSTEM and
// DOODLESTREAM_INPUT_SYSTEM are defined. Signatures follow the package; bodies do the least they can.
// Add a member here only as the package declares it.

#pragma warning disable 1591

namespace UnityEngine.InputSystem.Controls
{
    public class ButtonControl
    {
        public bool isPressed { get { return false; } }
        public bool wasPressedThisFrame { get { return false; } }
        public bool wasReleasedThisFrame { get { return false; } }
    }

    public class KeyControl : ButtonControl { }

    public class Vector2Control
    {
        public UnityEngine.Vector2 ReadValue() { return default(UnityEngine.Vector2); }
    }
}

namespace UnityEngine.InputSystem
{
    using UnityEngine.InputSystem.Controls;

    public enum Key
    {
        None = 0,
        Space = 1,
        Enter = 2,
        A = 15,
        C = 17,
        S = 33,
        Z = 40,
    }

    public class InputDevice { }

    public class Pointer : InputDevice
    {
        public static Pointer current { get { return null; } }
        public Vector2Control position { get { return new Vector2Control(); } }
        public ButtonControl press { get { return new ButtonControl(); } }
    }

    public class Keyboard : InputDevice
    {
        public static Keyboard current { get { return null; } }
        public KeyControl this[Key key] { get { return new KeyControl(); } }
    }
}
