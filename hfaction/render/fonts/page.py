"""The scripts hfaction runs in the page: adding the frozen faces, and loading every
declared face before capture.
"""

from __future__ import annotations

# Runs in the page before its own scripts: the faces hfaction froze for families the
# project names without loading (bundled, Google Fonts), served from the plan.
FONT_FACES_SCRIPT = """
(() => {
  const faces = (window.__hfConfig && window.__hfConfig.fontFaces) || [];
  for (const f of faces) {
    const descriptors = { weight: f.weight, style: f.style, display: "block" };
    if (f.unicodeRange) descriptors.unicodeRange = f.unicodeRange;
    const face = new FontFace(f.family, "url(" + JSON.stringify(f.src) + ")", descriptors);
    document.fonts.add(face);
    face.load().catch(() => {});
  }
})();
"""

# Loads every face the page declares (also those no text uses yet, and those of nested
# compositions) so no later frame waits for a font; answers the families that failed.
LOAD_ALL_FONTS_SCRIPT = """
() => {
  window.__hfFontsValue = null;
  Promise.all([...document.fonts].map((f) => f.load().catch(() => null)))
    .then(() => document.fonts.ready)
    .then(() => { window.__hfFontsValue = JSON.stringify(
      [...document.fonts].filter((f) => f.status === "error").map((f) => f.family)); });
  return 1;
}
"""
