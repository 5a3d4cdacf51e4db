// Turns the server's sprite PNGs into Unity textures and sprites.

using UnityEngine;

namespace Doodlestream
{
    /// <summary>Makes a <see cref="Texture2D"/> or <see cref="Sprite"/> of a <see cref="SpriteMessage"/>.</summary>
    /// <remarks>Unity never frees textures and sprites made at run time on its own: <c>Destroy</c>
    /// both (the sprite, then <c>sprite.texture</c>) when the doodle goes.</remarks>
    public static class DoodleSprites
    {
        /// <summary>A texture of the PNG (its own size, bilinear, transparent background), or null when the bytes are not an image.</summary>
        public static Texture2D CreateTexture(SpriteMessage message)
        {
            var texture = new Texture2D(2, 2, TextureFormat.RGBA32, false);
            if (message == null || !texture.LoadImage(message.Png)) // LoadImage resizes the texture
            {
                Object.Destroy(texture);
                return null;
            }
            texture.filterMode = FilterMode.Bilinear;
            return texture;
        }

        /// <summary>A sprite of the PNG, pivot in the middle, <paramref name="pixelsPerUnit"/> pixels per world unit
        /// (default: the PNG's width, so one unit across); null when the bytes are not an image.</summary>
        public static Sprite CreateSprite(SpriteMessage message, float pixelsPerUnit = 0f)
        {
            var texture = CreateTexture(message);
            if (texture == null) return null;
            float ppu = pixelsPerUnit > 0f ? pixelsPerUnit : texture.width;
            return Sprite.Create(texture, new Rect(0, 0, texture.width, texture.height), new Vector2(0.5f, 0.5f), ppu);
        }
    }
}
