// Sample: draw with the mouse, see the server's guesses, turn the drawing into a sprite.
// Uses built-in Unity modules (LineRenderer, IMGUI) and whichever input handling the project has:
// the Input System package (com.unity.inputsystem) when it is active, else the legacy Input Manager.

using System.Collections.Generic;
using System.Text;
using UnityEngine;
#if ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM
using UnityEngine.InputSystem;
#endif

namespace Doodlestream.Samples
{
    /// <summary>
    /// Draws with the left mouse button into one <see cref="LineRenderer"/> per stroke, streams the
    /// points to a <see cref="DoodleStreamBehaviour"/>, sends pen_up on release, and shows the guesses
    /// with <c>OnGUI</c>. Keys: undo, clear, submit (store the drawing as the top guess, then spawn
    /// its sprite) and sprite (spawn a sprite of the current drawing).
    /// </summary>
    /// <remarks>Reads the pointer through the Input System package when the project uses it (its
    /// assembly definition defines <c>DOODLESTREAM_INPUT_SYSTEM</c> when com.unity.inputsystem is
    /// installed), else through the legacy Input Manager; with neither it logs one error.</remarks>
    [AddComponentMenu("Doodlestream/Samples/Draw With Mouse")]
    public sealed class DrawWithMouse : MonoBehaviour
    {
        [Tooltip("The connection; found on this GameObject or in the scene when empty.")]
        [SerializeField] private DoodleStreamBehaviour stream = null;
        [Tooltip("The camera the lines are drawn in front of; Camera.main when empty.")]
        [SerializeField] private Camera drawCamera = null;
        [Tooltip("Distance of the lines from the camera, in world units.")]
        [SerializeField] private float drawDistance = 10f;
        [SerializeField] private float lineWidth = 0.06f;
        [SerializeField] private Color lineColor = Color.black;
        [Tooltip("Mouse movement below this many pixels adds no point.")]
        [SerializeField] private float minPixelsBetweenPoints = 2f;
        [Tooltip("Side of the sprites asked for, in pixels.")]
        [SerializeField] private int spriteSize = 256;
        [Tooltip("Sprites kept in the scene; the oldest is destroyed (texture included) beyond this.")]
        [SerializeField] private int maxSprites = 8;
#if ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM
        [SerializeField] private Key undoKey = Key.Z;
        [SerializeField] private Key clearKey = Key.C;
        [SerializeField] private Key submitKey = Key.Enter;
        [SerializeField] private Key spriteKey = Key.S;
#else
        [SerializeField] private KeyCode undoKey = KeyCode.Z;
        [SerializeField] private KeyCode clearKey = KeyCode.C;
        [SerializeField] private KeyCode submitKey = KeyCode.Return;
        [SerializeField] private KeyCode spriteKey = KeyCode.S;
#endif

        // The lines on screen. The points themselves are kept once, by DoodleStreamBehaviour, which
        // replays them after a reconnect.
        private readonly List<LineRenderer> _strokes = new List<LineRenderer>();
        private LineRenderer _current;
        private Vector2 _lastMouse;
        private readonly Queue<GameObject> _sprites = new Queue<GameObject>();
        private Material _material;
        private GuessesMessage _guesses;
        private string _status = "connecting...";
        private string _lastError = "";
        private long? _submitSeq;
        private bool _spriteClears;
        private int _spawned;

        private void Awake()
        {
            if (stream == null) stream = GetComponent<DoodleStreamBehaviour>();
            if (stream == null) stream = FindObjectOfType<DoodleStreamBehaviour>();
            if (drawCamera == null) drawCamera = Camera.main;
            _material = new Material(Shader.Find("Sprites/Default"));
            if (stream == null) Debug.LogError("DrawWithMouse needs a DoodleStreamBehaviour in the scene", this);
#if !(ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM) && !ENABLE_LEGACY_INPUT_MANAGER
            Debug.LogError("DrawWithMouse: no input handling it can read (install com.unity.inputsystem or enable the Input Manager)", this);
#endif
        }

        private void OnEnable()
        {
            if (stream == null) return;
            stream.Session.GuessesReceived += OnGuesses;
            stream.Session.ErrorReceived += OnServerError;
            stream.Session.ConnectionStateChanged += OnState;
            stream.Session.Saved += OnSaved;
            stream.Session.SpriteReceived += OnSprite;
        }

        private void OnDisable()
        {
            if (stream == null) return;
            stream.Session.GuessesReceived -= OnGuesses;
            stream.Session.ErrorReceived -= OnServerError;
            stream.Session.ConnectionStateChanged -= OnState;
            stream.Session.Saved -= OnSaved;
            stream.Session.SpriteReceived -= OnSprite;
        }

        private void Update()
        {
            if (stream == null || drawCamera == null) return;
            if (PointerPressedThisFrame()) BeginStroke();
            else if (PointerHeld() && _current != null) AddPoint(false);
            if (PointerReleasedThisFrame() && _current != null) EndStroke();

            if (KeyPressed(undoKey)) Undo();
            if (KeyPressed(clearKey)) ClearDrawing(true);
            if (KeyPressed(submitKey)) SubmitDrawing();
            if (KeyPressed(spriteKey)) RequestSpriteOfDrawing(false);
        }

        // ------------------------------------------------------------------ input, either system

#if ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM
        // Pointer.current is the mouse, pen or touchscreen last used.
        private static Vector2 PointerPosition() { return Pointer.current != null ? Pointer.current.position.ReadValue() : Vector2.zero; }
        private static bool PointerPressedThisFrame() { return Pointer.current != null && Pointer.current.press.wasPressedThisFrame; }
        private static bool PointerHeld() { return Pointer.current != null && Pointer.current.press.isPressed; }
        private static bool PointerReleasedThisFrame() { return Pointer.current != null && Pointer.current.press.wasReleasedThisFrame; }
        private static bool KeyPressed(Key key) { return Keyboard.current != null && Keyboard.current[key].wasPressedThisFrame; }
#elif ENABLE_LEGACY_INPUT_MANAGER
        private static Vector2 PointerPosition() { return Input.mousePosition; }
        private static bool PointerPressedThisFrame() { return Input.GetMouseButtonDown(0); }
        private static bool PointerHeld() { return Input.GetMouseButton(0); }
        private static bool PointerReleasedThisFrame() { return Input.GetMouseButtonUp(0); }
        private static bool KeyPressed(KeyCode key) { return Input.GetKeyDown(key); }
#else
        // Input System active without its package's assembly, or no input handling at all: Awake says so.
        private static Vector2 PointerPosition() { return Vector2.zero; }
        private static bool PointerPressedThisFrame() { return false; }
        private static bool PointerHeld() { return false; }
        private static bool PointerReleasedThisFrame() { return false; }
        private static bool KeyPressed(KeyCode key) { return false; }
#endif

        // ------------------------------------------------------------------ drawing

        private void BeginStroke()
        {
            var go = new GameObject("Stroke " + (_strokes.Count + 1));
            go.transform.SetParent(transform, false);
            var line = go.AddComponent<LineRenderer>();
            line.useWorldSpace = true;
            line.material = _material;
            line.startColor = lineColor;
            line.endColor = lineColor;
            line.startWidth = lineWidth;
            line.endWidth = lineWidth;
            line.numCapVertices = 4;
            line.numCornerVertices = 4;
            line.positionCount = 0;
            _current = line;
            AddPoint(true);
        }

        private void AddPoint(bool first)
        {
            Vector2 pointer = PointerPosition();
            if (!first && Vector2.Distance(pointer, _lastMouse) < minPixelsBetweenPoints) return;
            _lastMouse = pointer;
            _current.positionCount += 1;
            _current.SetPosition(_current.positionCount - 1, drawCamera.ScreenToWorldPoint(new Vector3(pointer.x, pointer.y, drawDistance)));
            // Screen pixels, y up: the behaviour flips them, stamps the time, and sends a frame's points as one message.
            if (first) stream.BeginStroke(pointer);
            else stream.AddPoint(pointer);
        }

        private void EndStroke()
        {
            _strokes.Add(_current);
            _current = null;
            stream.EndStroke();
        }

        private void Undo()
        {
            if (_current != null)
            {
                Destroy(_current.gameObject);
                _current = null;
            }
            else if (_strokes.Count > 0)
            {
                Destroy(_strokes[_strokes.Count - 1].gameObject);
                _strokes.RemoveAt(_strokes.Count - 1);
            }
            stream.Session.Undo();
        }

        private void ClearDrawing(bool tellServer)
        {
            if (_current != null) Destroy(_current.gameObject);
            foreach (var line in _strokes) Destroy(line.gameObject);
            _strokes.Clear();
            _current = null;
            _guesses = null;
            if (tellServer) stream.Session.Clear();
        }

        // ------------------------------------------------------------------ sprites

        private void SubmitDrawing()
        {
            string word = _guesses != null ? _guesses.TopWord : null;
            if (word == null || _strokes.Count == 0)
            {
                _lastError = "draw something first";
                return;
            }
            _submitSeq = stream.Session.Submit(word);
        }

        private void RequestSpriteOfDrawing(bool clearAfter)
        {
            if (_strokes.Count == 0)
            {
                _lastError = "draw something first";
                return;
            }
            _spriteClears = clearAfter;
            stream.Session.RequestSprite(null, spriteSize);
        }

        private void OnSaved(SavedMessage saved)
        {
            _status = "saved as #" + saved.Id;
            _spriteClears = true;
            stream.Session.RequestSprite(saved.Id, spriteSize);
        }

        private void OnSprite(SpriteMessage sprite)
        {
            var item = DoodleSprites.CreateSprite(sprite); // one world unit across
            if (item == null)
            {
                _lastError = "the server's sprite is not a PNG";
                return;
            }
            var go = new GameObject("Doodle sprite " + (++_spawned));
            go.AddComponent<SpriteOwner>().Own(item.texture, item);
            var spriteRenderer = go.AddComponent<SpriteRenderer>();
            spriteRenderer.sprite = item;
            _sprites.Enqueue(go);
            while (_sprites.Count > Mathf.Max(1, maxSprites)) Destroy(_sprites.Dequeue()); // its SpriteOwner frees the texture
            spriteRenderer.sortingOrder = _spawned;
            // A row along the bottom of the view, one world unit per sprite.
            float across = 0.1f + 0.12f * ((_spawned - 1) % 8);
            go.transform.position = drawCamera.ScreenToWorldPoint(new Vector3(Screen.width * across, Screen.height * 0.12f, drawDistance));
            if (_spriteClears) ClearDrawing(true);
            _spriteClears = false;
        }

        // ------------------------------------------------------------------ server events

        private void OnGuesses(GuessesMessage guesses)
        {
            _guesses = guesses;
        }

        private void OnServerError(ErrorMessage error)
        {
            // A server without the submit message answers unknown_type: spawn a sprite of the drawing instead.
            if (error.Code == "unknown_type" && _submitSeq.HasValue && error.Seq == _submitSeq)
            {
                _submitSeq = null;
                RequestSpriteOfDrawing(true);
                return;
            }
            _lastError = error.Code + ": " + error.Message;
        }

        private void OnState(ConnectionState state)
        {
            _status = state == ConnectionState.Connected ? "connected" : state.ToString().ToLowerInvariant() + "...";
        }

        private void OnGUI()
        {
            var text = new StringBuilder();
            text.Append("doodlestream: ").Append(_status).Append('\n');
            if (_guesses != null)
            {
                text.Append(_guesses.Live ? "guessing (live):\n" : "guesses:\n");
                foreach (var g in _guesses.Guesses)
                    text.Append("  ").Append(g.Word).Append("  ").Append((g.Score * 100).ToString("0")).Append("%\n");
            }
            if (_lastError.Length > 0) text.Append("last error: ").Append(_lastError).Append('\n');
            text.Append('\n').Append("drag to draw | ").Append(undoKey).Append(" undo | ").Append(clearKey).Append(" clear | ")
                .Append(submitKey).Append(" submit as sprite | ").Append(spriteKey).Append(" sprite");
            GUI.Label(new Rect(10, 10, 520, 260), text.ToString());
        }

        private void OnDestroy()
        {
            if (_material != null) Destroy(_material);
            while (_sprites.Count > 0)
            {
                var go = _sprites.Dequeue();
                if (go != null) Destroy(go);
            }
        }
    }
}
