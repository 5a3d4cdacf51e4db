// Sample "Doodle To Life", the game doodlestream was first built for ("create everything in your
// mind by doodling"): draw something; when the server recognises it, it comes to life as a physics
// object made of the player's own drawing: the server's sprite of the drawing, a collider from its
// outline, a Rigidbody2D that behaves as the word says (DoodleBehaviours: floats, flies, rolls, heavy).

using System.Collections.Generic;
using System.Threading.Tasks;
using UnityEngine;
#if ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM
using UnityEngine.InputSystem;
#endif

namespace Doodlestream.Samples
{
    /// <summary>
    /// Draw with the pointer (one LineRenderer per stroke); after each stroke the server guesses;
    /// once the top guess reaches <see cref="spawnScore"/> (or on the spawn key, whatever the score)
    /// the drawing is asked for as a sprite and spawned where it was drawn, with a Rigidbody2D and a
    /// collider from its outline, then the canvas is cleared for the next thing.
    /// </summary>
    [AddComponentMenu("Doodlestream/Samples/Doodle To Life")]
    public sealed class DoodleToLife : MonoBehaviour
    {
        [Tooltip("The connection; found in the scene when empty.")]
        [SerializeField] private DoodleStreamBehaviour stream = null;
        [Tooltip("Top-guess score at which the drawing comes to life.")]
        [Range(0f, 1f)]
        [SerializeField] private float spawnScore = 0.5f;
        [Tooltip("Side of the sprite asked for, in pixels.")]
        [SerializeField] private int spriteSize = 128;
        [Tooltip("Distance of the drawing from the camera, in world units.")]
        [SerializeField] private float drawDistance = 10f;
        [SerializeField] private float lineWidth = 0.08f;
        [Tooltip("Things kept in the scene; the oldest goes beyond this.")]
        [SerializeField] private int maxThings = 12;

        private readonly List<LineRenderer> _lines = new List<LineRenderer>();
        private readonly Queue<GameObject> _things = new Queue<GameObject>();
        private LineRenderer _line;
        private Material _material;
        private Vector3 _min, _max; // the drawing's extent in world units
        private bool _spawning;
        private string _word = "";

        private void Awake()
        {
            if (stream == null) stream = FindObjectOfType<DoodleStreamBehaviour>();
            _material = new Material(Shader.Find("Sprites/Default"));
            if (stream == null) Debug.LogError("Doodle To Life needs a DoodleStreamBehaviour in the scene", this);
#if !(ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM) && !ENABLE_LEGACY_INPUT_MANAGER
            Debug.LogError("Doodle To Life: no input handling it can read (install com.unity.inputsystem or enable the Input Manager)", this);
#endif
        }

        private void OnEnable()
        {
            if (stream != null) stream.Session.GuessesReceived += OnGuesses;
        }

        private void OnDisable()
        {
            if (stream != null) stream.Session.GuessesReceived -= OnGuesses;
        }

        private void Update()
        {
            if (stream == null || _spawning) return;
            Vector2 pointer;
            bool down, held, up, spawnKey;
#if ENABLE_INPUT_SYSTEM && DOODLESTREAM_INPUT_SYSTEM
            var p = Pointer.current;
            if (p == null) return;
            pointer = p.position.ReadValue();
            down = p.press.wasPressedThisFrame;
            held = p.press.isPressed;
            up = p.press.wasReleasedThisFrame;
            spawnKey = Keyboard.current != null && Keyboard.current[Key.Space].wasPressedThisFrame;
#elif ENABLE_LEGACY_INPUT_MANAGER
            pointer = Input.mousePosition;
            down = Input.GetMouseButtonDown(0);
            held = Input.GetMouseButton(0);
            up = Input.GetMouseButtonUp(0);
            spawnKey = Input.GetKeyDown(KeyCode.Space);
#else
            pointer = Vector2.zero; // no input handling to read (Awake said so)
            down = held = up = spawnKey = false;
#endif
            if (down) StartLine(pointer);
            else if (held && _line != null) ExtendLine(pointer, false);
            if (up && _line != null)
            {
                _line = null;
                stream.EndStroke();
            }
            if (spawnKey && _word.Length > 0) _ = Spawn(_word);
        }

        private void StartLine(Vector2 pointer)
        {
            var go = new GameObject("stroke");
            _line = go.AddComponent<LineRenderer>();
            _line.material = _material;
            _line.startWidth = _line.endWidth = lineWidth;
            _line.startColor = _line.endColor = Color.black;
            _line.positionCount = 0;
            _lines.Add(_line);
            ExtendLine(pointer, true);
        }

        private void ExtendLine(Vector2 pointer, bool first)
        {
            var world = Camera.main.ScreenToWorldPoint(new Vector3(pointer.x, pointer.y, drawDistance));
            if (_lines.Count == 1 && first) _min = _max = world;
            _min = new Vector3(Mathf.Min(_min.x, world.x), Mathf.Min(_min.y, world.y), world.z);
            _max = new Vector3(Mathf.Max(_max.x, world.x), Mathf.Max(_max.y, world.y), world.z);
            _line.positionCount++;
            _line.SetPosition(_line.positionCount - 1, world);
            if (first) stream.BeginStroke(pointer);
            else stream.AddPoint(pointer);
        }

        private void OnGuesses(GuessesMessage g)
        {
            if (g.Live || g.Guesses.Count == 0) return;
            _word = g.TopWord;
            if (g.Guesses[0].Score >= spawnScore && !_spawning) _ = Spawn(_word);
        }

        // The drawing as the server renders it (transparent PNG), its outline, and a body for the word.
        private async Task Spawn(string word)
        {
            _spawning = true;
            try
            {
                var message = await stream.Session.SpriteAsync(spriteSize);
                var texture = DoodleSprites.CreateTexture(message);
                if (texture == null) return;
                float size = Mathf.Max(_max.x - _min.x, _max.y - _min.y) + lineWidth;
                float pixelsPerUnit = texture.width / Mathf.Max(size, 0.5f);
                var thing = new GameObject(word);
                thing.transform.position = new Vector3((_min.x + _max.x) / 2, (_min.y + _max.y) / 2, _min.z);
                var sprite = Sprite.Create(texture, new Rect(0, 0, texture.width, texture.height), new Vector2(0.5f, 0.5f), pixelsPerUnit);
                thing.AddComponent<SpriteRenderer>().sprite = sprite;
                AddBody(thing, word, texture, pixelsPerUnit).DrawnWith = sprite;
                _things.Enqueue(thing);
                while (_things.Count > Mathf.Max(1, maxThings)) Destroy(_things.Dequeue());
            }
            catch (System.Exception e) // not connected, or the server refused the sprite
            {
                Debug.LogWarning("Doodle To Life: no sprite for '" + word + "': " + e.Message, this);
            }
            finally
            {
                ClearDrawing();
                _spawning = false;
            }
        }

        private static DoodleThing AddBody(GameObject thing, string word, Texture2D texture, float pixelsPerUnit)
        {
            var pixels = texture.GetPixels32();
            var alpha = new byte[pixels.Length];
            for (int i = 0; i < pixels.Length; i++) alpha[i] = pixels[i].a;
            var outline = DoodleOutline.ToLocal(DoodleOutline.Hull(alpha, texture.width, texture.height), texture.width, texture.height, pixelsPerUnit);
            var settings = DoodleBehaviours.BodyFor(word);
            var body = thing.AddComponent<Rigidbody2D>();
            body.mass = settings.Mass;
            body.gravityScale = settings.GravityScale;
#if UNITY_6000_0_OR_NEWER
            body.linearDamping = settings.LinearDrag;
            body.angularDamping = settings.AngularDrag;
#else
            body.drag = settings.LinearDrag;
            body.angularDrag = settings.AngularDrag;
#endif
            if (settings.Round)
            {
                thing.AddComponent<CircleCollider2D>().radius = DoodleOutline.Radius(outline);
            }
            else if (outline.Length >= 6)
            {
                var points = new Vector2[outline.Length / 2];
                for (int i = 0; i < points.Length; i++) points[i] = new Vector2(outline[2 * i], outline[2 * i + 1]);
                thing.AddComponent<PolygonCollider2D>().points = points;
            }
            var doodle = thing.AddComponent<DoodleThing>();
            doodle.Settings = settings;
            return doodle;
        }

        private void ClearDrawing()
        {
            foreach (var line in _lines) Destroy(line.gameObject);
            _lines.Clear();
            _line = null;
            stream.Session.Clear();
        }

        private void OnDestroy()
        {
            if (_material != null) Destroy(_material);
        }
    }

    /// <summary>Applies a spawned doodle's forces every physics step (lift, cruising, rolling), and frees
    /// its texture and sprite when it goes (Unity never frees those on its own).</summary>
    [AddComponentMenu("")]
    public sealed class DoodleThing : MonoBehaviour
    {
        /// <summary>How this thing moves (from <see cref="DoodleBehaviours.BodyFor"/>).</summary>
        public DoodleBody Settings;
        /// <summary>The sprite it is drawn with, destroyed with it (its texture too).</summary>
        public Sprite DrawnWith;
        private Rigidbody2D _body;

        private void Awake()
        {
            _body = GetComponent<Rigidbody2D>();
        }

        private void FixedUpdate()
        {
            if (_body == null) return;
            float x, y;
#if UNITY_6000_0_OR_NEWER
            float vx = _body.linearVelocity.x;
#else
            float vx = _body.velocity.x;
#endif
            DoodleBehaviours.Force(Settings, _body.mass, Physics2D.gravity.y, vx, Time.time, out x, out y);
            if (x != 0f || y != 0f) _body.AddForce(new Vector2(x, y));
            if (Settings.Spin != 0f) _body.AddTorque(Settings.Spin * _body.mass);
        }

        private void OnDestroy()
        {
            if (DrawnWith == null) return;
            Destroy(DrawnWith.texture);
            Destroy(DrawnWith);
        }
    }
}
