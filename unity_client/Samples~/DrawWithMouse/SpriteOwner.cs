// Part of the DrawWithMouse sample: frees what a spawned doodle sprite was made of.

using UnityEngine;

namespace Doodlestream.Samples
{
    /// <summary>Destroys the texture and sprite a spawned doodle was made of when its GameObject goes (Unity never frees them on its own).</summary>
    [AddComponentMenu("")]
    public sealed class SpriteOwner : MonoBehaviour
    {
        private Texture2D _texture;
        private Sprite _sprite;

        /// <summary>Takes ownership of <paramref name="texture"/> and <paramref name="sprite"/>.</summary>
        public void Own(Texture2D texture, Sprite sprite)
        {
            _texture = texture;
            _sprite = sprite;
        }

        private void OnDestroy()
        {
            if (_sprite != null) Destroy(_sprite);
            if (_texture != null) Destroy(_texture);
        }
    }
}
