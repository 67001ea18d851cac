"""The scripts hfaction runs in the page: adding the frozen faces, HyperFrames' text
rendering rule, putting Inter in front of generic first families as HyperFrames does,
and loading every declared face before capture.
"""

from __future__ import annotations

import json

from hfaction.render.fonts.aliases import PROMOTED_GENERICS

_GENERICS_JS = "[" + ", ".join(f'"{name}"' for name in sorted(PROMOTED_GENERICS)) + "]"

# HyperFrames' compile step puts this first in <head>: text is laid out with fractional
# advances, as in a full Chrome.
TEXT_RENDERING_RULE = "html,body,*{text-rendering:geometricPrecision}"

# Runs in the page before its own scripts: the faces hfaction froze for families the
# project names without loading (bundled, Google Fonts), served from the plan; and in the
# top document, TEXT_RENDERING_RULE as the first <style> of <head>.
#
# With a "promote" entry, the page's font-family declarations are read as HyperFrames'
# compile step rewrites them: in the top document's <style> elements, style attributes and
# data-font-family attributes, a font-family declaration or custom property whose first
# family is generic gets the promoted family in front (`system-ui, sans-serif` ->
# `Inter, system-ui, sans-serif`); the `font` shorthand is left alone. Markup is handled as
# it is inserted: the parser's before any script runs, nested compositions' as the runtime
# mounts them. Content that scripts create once the page is ready is not (HyperFrames compiles
# only the markup). A style sheet whose rules were rewritten in place (a nested
# composition's with @import) is promoted rule by rule.
FONT_FACES_SCRIPT = r"""
(() => {
  const faces = (window.__hfConfig && window.__hfConfig.fontFaces) || [];
  let promote = null;
  for (const f of faces) {
    if (f.promote) { promote = f.promote; continue; }
    const descriptors = { weight: f.weight, style: f.style, display: "block" };
    if (f.unicodeRange) descriptors.unicodeRange = f.unicodeRange;
    const face = new FontFace(f.family, "url(" + JSON.stringify(f.src) + ")", descriptors);
    document.fonts.add(face);
    face.load().catch(() => {});
  }
  if (window.top !== window) return;
  let ruleAdded = false;
  const addTextRenderingRule = () => {
    if (ruleAdded || !document.head) return;
    ruleAdded = true;
    if (document.querySelector("style[data-hyperframes-text-rendering]")) return;
    const style = document.createElement("style");
    style.setAttribute("data-hyperframes-text-rendering", "true");
    style.textContent = __TEXT_RENDERING__;
    document.head.insertBefore(style, document.head.firstChild);
  };
  const GENERICS = new Set(__GENERICS__);
  const firstFamily = (value) => {
    let depth = 0, quote = "", end = value.length;
    for (let i = 0; i < value.length; i++) {
      const c = value[i];
      if (quote) { if (c === quote) quote = ""; }
      else if (c === "'" || c === '"') quote = c;
      else if (c === "(") depth++;
      else if (c === ")") depth = Math.max(0, depth - 1);
      else if (c === "," && depth === 0) { end = i; break; }
    }
    return value.slice(0, end).replace(/!important/i, "").trim()
      .replace(/^(['"])(.*)\1$/, "$2").trim().toLowerCase();
  };
  const promoted = (value) => GENERICS.has(firstFamily(value)) ?
    promote + ", " + value.trim() : null;
  // Comments, strings and @font-face blocks stay as they are; a declaration is a
  // font-family or custom property name at the start or after `{`, `;` or a comment, up
  // to `;`, `{` or `}`.
  const TOKENS = new RegExp([
    String.raw`/\*[\s\S]*?\*/`, String.raw`"(?:[^"\\]|\\.)*"`, String.raw`'(?:[^'\\]|\\.)*'`,
    String.raw`@font-face\s*\{[^}]*\}`,
    String.raw`(?<=^|[{;]|\*/)(\s*)(font-family|--[\w-]+)(\s*:)([^;{}]*)`,
  ].join("|"), "gi");
  const promoteCss = (css) => css.replace(TOKENS, (all, space, name, colon, value) => {
    if (name === undefined) return all;
    const next = promoted(value);
    if (next === null) return all;
    return space + name + colon + " " + next + value.match(/\s*$/)[0];
  });
  const promoteRules = (rules) => {
    for (const rule of rules) {
      if (rule.cssRules) promoteRules(rule.cssRules);
      if (!(rule instanceof CSSStyleRule)) continue;  // not @font-face's descriptors
      const style = rule.style;
      for (let i = 0; i < style.length; i++) {
        const name = style[i];
        if (!name.startsWith("--")) continue;
        const next = promoted(style.getPropertyValue(name));
        if (next !== null) style.setProperty(name, next, style.getPropertyPriority(name));
      }
      const family = style.getPropertyValue("font-family");
      // Declared as font-family, not through the font shorthand.
      if (family && /(^|[;{\s])font-family\s*:/i.test(style.cssText)) {
        const next = promoted(family);
        if (next !== null) {
          style.setProperty("font-family", next, style.getPropertyPriority("font-family"));
        }
      }
    }
  };
  const done = new WeakSet();
  const promoteStyleElement = (el) => {
    let rules = null;
    try { rules = el.sheet && el.sheet.cssRules; } catch (error) { rules = null; }
    if (rules && [...rules].some((rule) => rule instanceof CSSImportRule)) {
      if (done.has(el)) return;
      done.add(el);
      promoteRules(rules);
      return;
    }
    const before = el.textContent;
    const after = promoteCss(before);
    if (after !== before) el.textContent = after;
  };
  const promoteAttributes = (el) => {
    const style = el.getAttribute("style");
    if (style) {
      const next = promoteCss(style);
      if (next !== style) el.setAttribute("style", next);
    }
    const data = el.getAttribute("data-font-family");
    if (data) {
      const next = promoted(data);
      if (next !== null) el.setAttribute("data-font-family", next);
    }
  };
  const visit = (node) => {
    if (!promote) return;
    if (node.nodeType === Node.TEXT_NODE) {
      const parent = node.parentElement;
      if (parent && parent.localName === "style") promoteStyleElement(parent);
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    for (const el of [node, ...node.querySelectorAll("*")]) {
      if (el.localName === "style") promoteStyleElement(el);
      if (el.hasAttribute("style") || el.hasAttribute("data-font-family")) {
        promoteAttributes(el);
      }
    }
  };
  const handle = (records) => {
    for (const record of records) {
      if (record.type === "characterData") visit(record.target);  // text the parser adds
      else for (const node of record.addedNodes) visit(node);
    }
  };
  const observer = new MutationObserver((records) => {
    addTextRenderingRule();
    if (promote) handle(records);
    else if (ruleAdded) observer.disconnect();
  });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
  window.__hfStopFontPromotion = () => {
    handle(observer.takeRecords());
    observer.disconnect();
  };
})();
""".replace("__GENERICS__", _GENERICS_JS).replace("__TEXT_RENDERING__",
                                                  json.dumps(TEXT_RENDERING_RULE))

# Loads every face the page declares (also those no text uses yet, and those of nested
# compositions) so no later frame waits for a font; answers the families that failed.
# From here on the page's markup is no longer promoted (see FONT_FACES_SCRIPT).
LOAD_ALL_FONTS_SCRIPT = """
() => {
  if (window.__hfStopFontPromotion) {
    window.__hfStopFontPromotion();
    window.__hfStopFontPromotion = null;
  }
  window.__hfFontsValue = null;
  Promise.all([...document.fonts].map((f) => f.load().catch(() => null)))
    .then(() => document.fonts.ready)
    .then(() => { window.__hfFontsValue = JSON.stringify(
      [...document.fonts].filter((f) => f.status === "error").map((f) => f.family)); });
  return 1;
}
"""
