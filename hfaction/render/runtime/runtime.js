// hfaction page runtime: injected before any page script (Playwright init script).
// It implements ../shared/COMPOSITION.md in the page: a frozen clock, seeded
// randomness, nested compositions, variables, clip visibility, and seeking of
// GSAP timelines, CSS animations and WAAPI to the exact time of a frame.
//
// Python drives it through one object under a private name (RUNTIME_KEY), so a page
// may use any name HyperFrames pages use (`window.__hf` included), with calls that
// each return a primitive (Playwright can hang serialising complex objects):
// `ready()` starts readiness and `readyValue()` answers its JSON string (or null),
// `seek(frame)` -> number (a Promise of it while the page finishes the frame).
//
// The page API HyperFrames gives compositions is `window.__hyperframes`
// (getVariables, fitTextFontSize), plus the adapter conventions HyperFrames reads:
// `window.__hfAnime` (anime.js), `window.__hfLottie` (lottie-web, dotLottie),
// `window.__hfThreeTime` / `window.__hfTypegpuTime` and the "hf-seek" event (three.js,
// WebGPU), and the readiness gates `__hfMapbox`, `__hfMaplibre`, `__hfLeaflet`,
// `__hfGoogleMaps`, `__hfD3`.
//
// The script runs in every frame of the page. In a same-origin <iframe> it only puts
// the frame on composition time (clock, timers, requestAnimationFrame, randomness,
// CSS/WAAPI animations); the top page's seek drives it.
(() => {
  "use strict";
  const RUNTIME_KEY = "__hfaction_runtime__";
  const config = window.__hfConfig;
  if (!config || Object.prototype.hasOwnProperty.call(window, RUNTIME_KEY)) return;
  let isChildFrame = false;
  try { isChildFrame = window.parent !== window; } catch (error) { isChildFrame = true; }
  function publish(api) {
    Object.defineProperty(window, RUNTIME_KEY, { value: Object.freeze(api), enumerable: false,
                                                 configurable: false, writable: false });
  }

  // ---- frozen clock ---------------------------------------------------------
  // Pages must not depend on wall-clock time: every clock reads the frame time.
  const RealDate = Date;
  const realSetTimeout = window.setTimeout.bind(window);
  const realNow = performance.now.bind(performance);
  const EPOCH_MS = config.epochMs;
  let nowMs = 0;

  function FrozenDate(...args) {
    if (!new.target) return new RealDate(EPOCH_MS + nowMs).toString();
    return args.length ? Reflect.construct(RealDate, args, new.target)
                       : Reflect.construct(RealDate, [EPOCH_MS + nowMs], new.target);
  }
  FrozenDate.prototype = RealDate.prototype;
  FrozenDate.now = () => EPOCH_MS + nowMs;
  FrozenDate.parse = RealDate.parse;
  FrozenDate.UTC = RealDate.UTC;
  window.Date = FrozenDate;
  Object.defineProperty(performance, "now", { value: () => nowMs, configurable: true });

  // Timers run on composition time: a timer due at t runs when a frame at or after t
  // is seeked, in due order, whichever chunk the frame belongs to.
  // While the page is not yet ready and readiness waits on the page (a timeline still
  // to be registered, a map still loading), its timers run on a load clock: the real
  // time spent waiting (loadClockMs), so a page that registers from a timer gets there.
  let timerSeq = 0;
  const timers = new Map();
  let loadClockMs = 0;
  let inTimer = false;
  function addTimer(callback, delay, args, repeat) {
    const id = ++timerSeq;
    const interval = Math.max(0, Number(delay) || 0);
    const base = inTimer ? nowMs : Math.max(nowMs, loadClockMs);
    timers.set(id, { id, due: base + interval, interval, callback, args, repeat });
    return id;
  }
  window.setTimeout = (cb, delay, ...args) => addTimer(cb, delay, args, false);
  window.setInterval = (cb, delay, ...args) => addTimer(cb, delay, args, true);
  window.clearTimeout = window.clearInterval = (id) => { timers.delete(id); };
  function runTimersUntil(limitMs) {
    const target = nowMs;
    for (let guard = 0; guard < 100000; guard++) {
      let next = null;
      for (const timer of timers.values()) {
        if (timer.due <= limitMs && (next === null || timer.due < next.due ||
            (timer.due === next.due && timer.id < next.id))) next = timer;
      }
      if (next === null) break;
      nowMs = next.due;
      if (next.repeat) next.due += Math.max(next.interval, 1); else timers.delete(next.id);
      const outer = inTimer;
      inTimer = true;
      try { invoke(next.callback, next.args); } finally { inTimer = outer; }
    }
    nowMs = target;
  }
  // A callback that throws is reported as the browser would (the render fails with the
  // page's error); the other callbacks still run.
  function report(error) {
    if (typeof window.reportError === "function") window.reportError(error);
    else realSetTimeout(() => { throw error; }, 0);
  }
  function invoke(callback, args) {
    try {
      if (typeof callback === "function") callback(...(args || []));
      else if (typeof callback === "string") (0, eval)(callback);
    } catch (error) { report(error); }
  }

  // requestAnimationFrame never runs on the browser's frames: each seek runs the queued
  // callbacks once, with the frame's time in milliseconds (as HyperFrames does);
  // callbacks they queue wait for the next seek.
  let rafSeq = 0;
  let rafQueue = new Map();
  window.requestAnimationFrame = (cb) => {
    if (typeof cb !== "function") return 0;
    rafQueue.set(++rafSeq, cb);
    return rafSeq;
  };
  let rafFlushing = null;
  window.cancelAnimationFrame = (id) => {
    rafQueue.delete(id);
    if (rafFlushing) rafFlushing.delete(id);
  };
  function runAnimationFrames() {
    const due = rafQueue;
    rafQueue = new Map();
    rafFlushing = due;
    try {
      for (const cb of due.values()) {
        try { cb(nowMs); } catch (error) { report(error); }
      }
    } finally { rafFlushing = null; }
  }

  // ---- seeded randomness -----------------------------------------------------
  let seed = 0;
  function reseed(frame) { seed = (Math.imul(frame + 1, 0x9e3779b1) ^ config.seed) >>> 0; }
  function random() { // mulberry32
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  reseed(0);
  Math.random = random;
  if (window.crypto) {
    const fill = (array) => {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      return array;
    };
    Object.defineProperty(crypto, "getRandomValues", { value: fill, configurable: true });
    Object.defineProperty(crypto, "randomUUID", {
      configurable: true,
      value: () => "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
        (Number(c) ^ (Math.floor(random() * 256) & (15 >> (Number(c) / 4)))).toString(16)),
    });
  }

  // ---- variables -------------------------------------------------------------
  const variables = Object.assign({}, config.variables || {});
  window.__hfVariables = variables;
  if (!isChildFrame) window.__timelines = window.__timelines || {};

  // ---- page API: window.__hyperframes ------------------------------------------
  // As in HyperFrames, available while the page's scripts run (before DOMContentLoaded).
  function readDeclaredDefaults(el) {
    let declared;
    try { declared = JSON.parse(el.getAttribute("data-composition-variables") || "[]"); }
    catch (error) { return {}; }
    const out = {};
    if (!Array.isArray(declared)) return out;
    for (const item of declared) {
      if (item && typeof item === "object" && typeof item.id === "string" && "default" in item) {
        out[item.id] = item.default;
      }
    }
    return out;
  }
  function getVariables() {
    // Declared defaults (<html> first, then every declaring element, later ones win),
    // then the render's values (window.__hfVariables).
    const declarers = new Set();
    const html = document.documentElement;
    if (html && html.hasAttribute("data-composition-variables")) declarers.add(html);
    for (const el of document.querySelectorAll("[data-composition-variables]")) declarers.add(el);
    const merged = {};
    for (const el of declarers) Object.assign(merged, readDeclaredDefaults(el));
    const overrides = window.__hfVariables;
    if (overrides && typeof overrides === "object" && !Array.isArray(overrides)) {
      Object.assign(merged, overrides);
    }
    return merged;
  }
  let fitCanvas = null;
  function fitTextFontSize(text, options) {
    // The largest size, from baseFontSize down by step to minFontSize, at which the text
    // fits on one line of maxWidth pixels.
    const o = Object.assign({ maxWidth: 1600, baseFontSize: 78, minFontSize: 42, fontWeight: 900,
                              fontFamily: "Outfit", step: 2 }, options || {});
    const step = Number(o.step) > 0 ? Number(o.step) : 2;
    fitCanvas = fitCanvas || document.createElement("canvas");
    const context = fitCanvas.getContext("2d");
    for (let size = Number(o.baseFontSize); size >= Number(o.minFontSize); size -= step) {
      context.font = o.fontWeight + " " + size + "px " + o.fontFamily;
      if (context.measureText(String(text)).width <= Number(o.maxWidth)) {
        return { fontSize: size, fits: true };
      }
    }
    return { fontSize: Number(o.minFontSize), fits: false };
  }
  const pageApi = { getVariables, fitTextFontSize };
  if (!isChildFrame) window.__hyperframes = Object.assign({}, pageApi);

  // Values reach CSS and text as plain strings; characters that could break out of a
  // declaration are dropped.
  function cssValue(value) { return String(value).replace(/[;{}<>\r\n]/g, ""); }
  function setText(el, text) {
    for (const node of el.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.textContent.trim() !== "") {
        node.textContent = text;
        return;
      }
    }
    el.insertBefore(document.createTextNode(text), el.firstChild);
  }
  function bindVariables(scope, values) {
    const targets = [scope, ...scope.querySelectorAll("[data-composition-id]")];
    for (const [id, value] of Object.entries(values)) {
      if (value !== null && typeof value === "object") continue;
      for (const target of targets) target.style && target.style.setProperty("--" + id, cssValue(value));
    }
    for (const el of scope.querySelectorAll("[data-var-text]")) {
      const id = el.getAttribute("data-var-text");
      if (id in values) setText(el, String(values[id]));
    }
    for (const el of scope.querySelectorAll("img[data-var-src], video[data-var-src], " +
                                             "audio[data-var-src], source[data-var-src]")) {
      const id = el.getAttribute("data-var-src");
      if (id in values) {
        const value = values[id];
        el.setAttribute("src", typeof value === "object" && value ? String(value.url) : String(value));
      }
    }
  }

  // ---- nested compositions ---------------------------------------------------
  // A host element with data-composition-src is filled with its file's composition the
  // way HyperFrames inlines it for a render: the host keeps its data-composition-id,
  // the composition's own root becomes a wrapper inside it (data-hf-inner-root), and
  // the composition's styles are rewritten to stay inside the host (see scopeSelector).
  // Scripts see a document whose queries stay inside their host, and GSAP selector text
  // scoped to it (gsap.context).
  const INNER_ROOT = "data-hf-inner-root";
  const AUTHORED_ID = "data-hf-authored-id";
  // What the wrapper drops: it is laid out by its host, and its timing is the host's.
  const WRAPPER_DROPS = ["data-composition-id", "data-composition-file", "data-start",
    "data-duration", "data-end", "data-track-index", "data-track", "data-composition-src",
    "data-hf-authored-duration", "data-hf-authored-end"];
  const scopes = [];
  function scopedDocument(host) {
    // Matches inside the host, the host itself included (it carries the composition's
    // id, so `[data-composition-id="x"]` finds it).
    const all = (s) => [...document.querySelectorAll(s)]
      .filter((node) => node === host || host.contains(node));
    return new Proxy(document, {
      get(target, key) {
        if (key === "querySelector") return (s) => all(s)[0] || null;
        if (key === "querySelectorAll") return all;
        if (key === "getElementById") {
          return (id) => all("#" + CSS.escape(id))[0] ||
            all(attributeSelector(AUTHORED_ID, id))[0] || null;
        }
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }
  async function runScript(original, host, values) {
    const script = document.createElement("script");
    for (const attr of original.attributes) script.setAttribute(attr.name, attr.value);
    if (original.src || original.type === "module") {
      if (original.src) {
        // As in HyperFrames, a library the page already loads (GSAP from the root's
        // <head>) is not loaded a second time.
        const url = new URL(original.getAttribute("src"), document.baseURI).href;
        if ([...document.scripts].some((existing) => existing.src === url)) return;
        await new Promise((resolve, reject) => {
          script.onload = resolve;
          script.onerror = () => reject(new Error("script " + original.getAttribute("src") +
                                                  " failed to load"));
          host.appendChild(script);
        });
        return;
      }
      script.textContent = original.textContent;
      host.appendChild(script);
      return;
    }
    const index = scopes.push({ document: scopedDocument(host), host,
                                hyperframes: Object.assign({}, pageApi, {
                                  getVariables: () => Object.assign({}, values) }) }) - 1;
    script.textContent = "(function(document, __hyperframes){ var __hfRun = function(){\n" +
      original.textContent + "\n}; if (window.gsap && gsap.context) gsap.context(__hfRun, " +
      "window.__hfScopes[" + index + "].host); else __hfRun(); }).call(window, " +
      "window.__hfScopes[" + index + "].document, window.__hfScopes[" + index + "].hyperframes);";
    host.appendChild(script);
  }
  window.__hfScopes = scopes;

  // ---- nested compositions: style scoping ------------------------------------
  // Each selector of a nested composition's style rules is rewritten as HyperFrames
  // rewrites it, with S = [data-composition-id="<host id>"] (the id the file declares
  // when the host has none):
  //   [data-composition-id="X"] alone, html, body, :root -> the composition's box: the
  //       wrapper, or the host when there is none ("S:not(:has(wrapper)), S > wrapper")
  //   [data-composition-id="X"] inside a selector (with [data-start]/[data-duration]
  //       beside it or not)                        -> S, so `[...="X"] .title` keeps matching
  //   #<id of the composition's root>               -> [data-hf-authored-id="<id>"]
  //   *                                             -> unchanged
  //   anything else                                 -> "S <selector>"
  // Rules inside @keyframes and @font-face, and rules nested in other style rules (CSS
  // nesting), are left as written; rules inside @media, @supports, @layer, @container
  // are rewritten. The rewrite edits the sheet's rules in place (CSSOM), so @import and
  // anything else the browser keeps stays as it was.
  function attributeSelector(name, value) {
    return "[" + name + '="' + String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"]';
  }
  function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function splitSelectorList(text) {
    // Top-level commas only: not inside (...), [...] or a quoted string.
    const parts = [];
    let depth = 0;
    let quote = null;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === "\\") { i++; continue; }
      if (quote) { if (c === quote) quote = null; continue; }
      if (c === '"' || c === "'") quote = c;
      else if (c === "(" || c === "[") depth++;
      else if (c === ")" || c === "]") depth = Math.max(0, depth - 1);
      else if (c === "," && depth === 0) { parts.push(text.slice(start, i)); start = i + 1; }
    }
    parts.push(text.slice(start));
    return parts;
  }
  function replaceAuthoredId(selector, authoredId) {
    // #<authoredId> outside brackets and strings, not followed by more of a name.
    const forms = [...new Set([authoredId, CSS.escape(authoredId)])]
      .sort((a, b) => b.length - a.length);
    const replacement = attributeSelector(AUTHORED_ID, authoredId);
    let out = "";
    let depth = 0;
    let quote = null;
    for (let i = 0; i < selector.length; i++) {
      const c = selector[i];
      if (c === "\\") { out += c + (selector[i + 1] || ""); i++; continue; }
      if (quote) { out += c; if (c === quote) quote = null; continue; }
      if (c === '"' || c === "'") quote = c;
      else if (c === "[") depth++;
      else if (c === "]") depth = Math.max(0, depth - 1);
      else if (c === "#" && depth === 0) {
        const form = forms.find((f) => selector.startsWith(f, i + 1) &&
                                       !/[\w\-\\]/.test(selector[i + 1 + f.length] || ""));
        if (form) { out += replacement; i += form.length; continue; }
      }
      out += c;
    }
    return out;
  }
  function styleScoping(scopeId, ids, authoredId) {
    const scope = attributeSelector("data-composition-id", scopeId);
    const box = scope + ":not(:has([" + INNER_ROOT + "])), " + scope + " > [" + INNER_ROOT + "]";
    const idAlternatives = ids.map((id) => {
      const quoted = escapeRegExp(id.replace(/\\/g, "\\\\").replace(/"/g, '\\"'));
      return '"' + quoted + '"|\'' + escapeRegExp(id) + "'";
    }).join("|");
    const idAttr = "\\[\\s*data-composition-id\\s*=\\s*(?:" + idAlternatives + ")\\s*\\]";
    const timing = "\\s*\\[\\s*data-(?:start|duration)\\s*=\\s*(?:\"[^\"]*\"|'[^']*')\\s*\\]";
    const withTiming = new RegExp(idAttr + "(?:" + timing + ")+", "g");
    const timingFirst = new RegExp("(?:" + timing + ")+" + idAttr, "g");
    const anyId = new RegExp(idAttr, "g");
    return function scopeSelector(selector) {
      let text = authoredId ? replaceAuthoredId(selector, authoredId) : selector;
      text = text.replace(withTiming, scope).replace(timingFirst, scope);
      const trimmed = text.trim();
      if (!trimmed || trimmed === "*") return selector.trim();
      if (/^(html|body|:root)$/i.test(trimmed)) return box;
      if (trimmed.replace(anyId, "").trim() === "" || trimmed === scope) return box;
      const replaced = trimmed.replace(anyId, scope);
      if (replaced.includes(scope)) return replaced;
      return scope + " " + trimmed;
    };
  }
  function scopeRules(rules, scopeSelector) {
    for (const rule of rules) {
      if (rule instanceof CSSStyleRule) {
        // Nested style rules inherit the scope through their parent.
        const rewritten = splitSelectorList(rule.selectorText).map(scopeSelector).join(", ");
        rule.selectorText = rewritten;
        continue;
      }
      if (rule instanceof CSSKeyframesRule || rule instanceof CSSFontFaceRule) continue;
      if (rule instanceof CSSImportRule) continue;
      if (rule.cssRules) scopeRules(rule.cssRules, scopeSelector);
    }
  }
  function scopeStyle(style, scopeSelector) {
    // `style` is in the document, so its sheet is parsed.
    if (!style.sheet) return;
    let rules;
    try { rules = style.sheet.cssRules; } catch (error) { return; }
    scopeRules(rules, scopeSelector);
    const hasImport = [...rules].some((rule) => rule instanceof CSSImportRule);
    // The text follows the rules (unless an @import would load again), so the sheet
    // stays scoped if the element is ever moved.
    if (!hasImport) style.textContent = [...rules].map((rule) => rule.cssText).join("\n");
  }

  function flattenInnerRoot(innerRoot, hostId) {
    // The composition's root stays as a wrapper inside its host, sized by its own
    // data-width/data-height; the host carries the composition's identity and timing.
    // Without a host id, the wrapper keeps the declared id so the composition's own
    // styles and scripts still find it.
    const declaredId = innerRoot.getAttribute("data-composition-id");
    const authoredId = (innerRoot.getAttribute("id") || "").trim();
    for (const name of WRAPPER_DROPS) innerRoot.removeAttribute(name);
    // The id stays too (scripts look it up); CSS reaches the root through the attribute.
    if (authoredId) innerRoot.setAttribute(AUTHORED_ID, authoredId);
    innerRoot.setAttribute(INNER_ROOT, "true");
    const width = innerRoot.getAttribute("data-width");
    const height = innerRoot.getAttribute("data-height");
    const fill = "width:" + (width ? width + "px" : "100%") + ";height:" +
      (height ? height + "px" : "100%");
    const existing = (innerRoot.getAttribute("style") || "").trim();
    innerRoot.setAttribute("style", existing ? existing + ";" + fill : fill);
    if (!hostId && declaredId) innerRoot.setAttribute("data-composition-id", declaredId);
  }

  // ---- nested compositions: relative URLs ------------------------------------
  // A nested composition's markup is mounted into the entry document, where the browser
  // would resolve its relative URLs against the entry's URL. Before anything of it is
  // imported, they are rewritten as HyperFrames rewrites them when it inlines a
  // composition (at planning, hfaction.render.composition.resolve_reference is the same
  // rule): `../x` resolves against the composition file; any other relative `x` is the
  // file beside the composition when the project has one (config.files lists the files
  // beside nested compositions), else the entry document's, as the browser resolves it.
  // Absolute URLs, root paths (/x), data:, blob: and #fragments are left as written. This
  // covers src, href, poster, xlink:href, srcset, style="" and <style> (url(), @import).
  const besideNested = new Set(config.files || []);
  const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.\-]*:/;
  function projectPathOf(url) {
    try { return decodeURIComponent(url.pathname).replace(/^\/+/, ""); }
    catch (error) { return null; }
  }
  function nestedUrl(value, fileUrl) {
    // The rewritten URL (a root path), or null to leave the value as written.
    const written = value.trim();
    if (!written || /^[#?\/\\]/.test(written) || URL_SCHEME.test(written)) return null;
    const beside = new URL(written, fileUrl);
    if (written === ".." || written.startsWith("../") ||
        besideNested.has(projectPathOf(beside))) {
      return beside.pathname + beside.search + beside.hash;
    }
    return null;
  }
  // Comments and other strings are kept; url(...) and @import "..." are rewritten.
  const CSS_URL_TOKENS = new RegExp([
    String.raw`/\*[\s\S]*?\*/`,
    String.raw`(@import\s+)("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')`,
    String.raw`(\burl\(\s*)("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^)"'\s]*)(\s*\))`,
    String.raw`"(?:[^"\\]|\\.)*"`, String.raw`'(?:[^'\\]|\\.)*'`,
  ].join("|"), "gi");
  function nestedCss(css, fileUrl) {
    return css.replace(CSS_URL_TOKENS, (all, importAt, imported, urlOpen, urlValue, urlClose) => {
      const written = imported !== undefined ? imported : urlValue;
      if (written === undefined) return all;
      const inner = /^["']/.test(written) ? written.slice(1, -1) : written;
      if (inner.includes("\\")) return all; // escaped: left as written
      const target = nestedUrl(inner, fileUrl);
      if (target === null) return all;
      // A serialised URL path holds no quote or backslash (they are percent-encoded).
      return imported !== undefined ? importAt + '"' + target + '"'
                                    : urlOpen + '"' + target + '"' + urlClose;
    });
  }
  function nestedSrcset(value, fileUrl) {
    // Candidates: a URL (no whitespace; commas that end it are separators), then
    // descriptors up to the next comma.
    let out = "";
    let i = 0;
    while (i < value.length) {
      const gap = i;
      while (i < value.length && /[\s,]/.test(value[i])) i++;
      out += value.slice(gap, i);
      let end = i;
      while (end < value.length && !/\s/.test(value[end])) end++;
      let url = value.slice(i, end);
      const separators = (url.match(/,+$/) || [""])[0];
      url = url.slice(0, url.length - separators.length);
      const target = url ? nestedUrl(url, fileUrl) : null;
      out += (target === null ? url : target) + separators;
      i = end;
      if (separators) continue;
      const descriptors = i;
      let depth = 0;
      for (; i < value.length; i++) {
        const c = value[i];
        if (c === "(") depth++;
        else if (c === ")") depth = Math.max(0, depth - 1);
        else if (c === "," && depth === 0) break;
      }
      out += value.slice(descriptors, i);
    }
    return out;
  }
  const NESTED_URL_ATTRIBUTES = ["src", "href", "poster", "xlink:href"];
  function rewriteNestedUrls(root, fileUrl) {
    // `root` is inert (a parsed document, a template's content): nothing has loaded yet.
    for (const el of root.querySelectorAll("*")) {
      for (const name of NESTED_URL_ATTRIBUTES) {
        const value = el.getAttribute(name);
        const target = value === null ? null : nestedUrl(value, fileUrl);
        if (target !== null) el.setAttribute(name, target);
      }
      const rewrites = [["srcset", nestedSrcset], ["style", nestedCss]];
      for (const [name, rewrite] of rewrites) {
        const value = el.getAttribute(name);
        if (value === null) continue;
        const rewritten = rewrite(value, fileUrl);
        if (rewritten !== value) el.setAttribute(name, rewritten);
      }
      if (el.localName === "style") {
        const rewritten = nestedCss(el.textContent, fileUrl);
        if (rewritten !== el.textContent) el.textContent = rewritten;
      }
      if (el.localName === "template" && el.content) rewriteNestedUrls(el.content, fileUrl);
    }
  }

  async function mountHosts(scope, depth) {
    if (depth > 16) throw new Error("nested compositions are more than 16 levels deep");
    const hosts = [...scope.querySelectorAll("[data-composition-src]")]
      .filter((host) => !host.hasAttribute("data-hf-mounted"));
    for (const host of hosts) {
      host.setAttribute("data-hf-mounted", "");
      const src = host.getAttribute("data-composition-src");
      const fileUrl = new URL(src, document.baseURI);
      const response = await fetch(fileUrl.href);
      if (!response.ok) throw new Error("nested composition " + src + " failed to load (" +
                                        response.status + ")");
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      rewriteNestedUrls(doc, fileUrl);
      const hostId = (host.getAttribute("data-composition-id") || "").trim() || null;
      const template = (hostId && doc.getElementById(hostId + "-template")) ||
                       doc.querySelector("template");
      const fragment = template ? document.importNode(template.content, true)
                                : document.importNode(doc.body, true);
      // A full-document composition's <head> styles and scripts belong to it; a
      // templated one carries everything in its template. Stylesheet links always come.
      const fromHead = (selector) => template ? [] : [...doc.head.querySelectorAll(selector)]
        .map((node) => document.importNode(node, true));
      const links = [...doc.head.querySelectorAll("link[rel=stylesheet]")]
        .map((node) => document.importNode(node, true));
      const styles = [...fromHead("style"), ...fragment.querySelectorAll("style")];
      const scripts = [...fromHead("script"), ...fragment.querySelectorAll("script")];
      for (const node of [...styles, ...scripts]) node.remove();
      const roots = [...fragment.querySelectorAll("[data-composition-id]")];
      const innerRoot = (hostId && roots.find((root) =>
        root.getAttribute("data-composition-id") === hostId)) || roots[0] || null;
      const declaredId = innerRoot ?
        (innerRoot.getAttribute("data-composition-id") || "").trim() || null : null;
      const authoredId = innerRoot ? (innerRoot.getAttribute("id") || "").trim() : "";
      let declared = [];
      if (innerRoot) {
        for (const name of ["data-width", "data-height"]) {
          if (!host.hasAttribute(name) && innerRoot.hasAttribute(name)) {
            host.setAttribute(name, innerRoot.getAttribute(name));
          }
        }
        const rawDeclared = innerRoot.getAttribute("data-composition-variables");
        if (rawDeclared) declared = JSON.parse(rawDeclared);
        flattenInnerRoot(innerRoot, hostId);
        host.appendChild(innerRoot); // as in HyperFrames, the root alone is mounted
      } else {
        host.appendChild(fragment);
      }
      if (depth === 0) {
        // The render page sizes a top-level host from its data-width/data-height unless
        // its inline style already says otherwise.
        const width = host.getAttribute("data-width");
        const height = host.getAttribute("data-height");
        const existing = host.getAttribute("style") || "";
        if (width && height) {
          const additions = [existing.includes("width") ? "" : "width:" + width + "px",
                             existing.includes("height") ? "" : "height:" + height + "px"]
            .filter(Boolean).join(";");
          if (additions) host.setAttribute("style", existing ? existing + ";" + additions
                                                             : additions);
        }
      }
      const scopeId = hostId || declaredId;
      const scopeSelector = scopeId ? styleScoping(scopeId, [...new Set(
        [scopeId, declaredId].filter(Boolean))], authoredId) : null;
      for (const link of links) document.head.appendChild(link);
      for (const style of styles) {
        document.head.appendChild(style);
        if (scopeSelector) scopeStyle(style, scopeSelector);
      }
      const values = {};
      for (const item of declared) if (item && "default" in item) values[item.id] = item.default;
      const raw = host.getAttribute("data-variable-values");
      Object.assign(values, raw ? JSON.parse(raw) : {});
      bindVariables(host, Object.assign({}, variables, values));
      for (const script of scripts) await runScript(script, host, Object.assign({}, variables, values));
      await mountHosts(host, depth + 1);
    }
  }

  // ---- timing ----------------------------------------------------------------
  const compositions = new Map(); // id -> {offsetSeconds, playbackStart, hostEnd}
  for (const nested of config.nested || []) compositions.set(nested.id, nested);
  let timed = [];
  let animatedTargets = new WeakMap();

  function compositionOf(el) {
    const owner = el.parentElement && el.parentElement.closest("[data-composition-id]");
    return owner ? owner.getAttribute("data-composition-id") : config.rootId;
  }
  function offsetOf(compositionId) {
    const nested = compositions.get(compositionId);
    return nested ? nested.offset : 0;
  }
  function startOf(el, compositionId) {
    const expression = (el.getAttribute("data-start") || "0").trim();
    const number = Number(expression);
    if (expression !== "" && Number.isFinite(number)) return number;
    const table = (config.starts || {})[compositionId] || {};
    if (expression in table) return table[expression];
    throw new Error("data-start \"" + expression + "\" could not be resolved");
  }
  const NOT_TIMED = new Set(["SCRIPT", "STYLE", "LINK", "META"]);
  const startByElement = new WeakMap();
  function collectTimed() {
    // Like HyperFrames, every element with data-start has a visibility window.
    timed = [];
    for (const el of document.querySelectorAll("[data-start]")) {
      if (NOT_TIMED.has(el.tagName)) continue;
      const compositionId = compositionOf(el);
      const start = offsetOf(compositionId) + startOf(el, compositionId);
      const durationText = el.getAttribute("data-duration");
      const duration = durationText === null || durationText.trim() === "" ?
        Infinity : Number(durationText);
      timed.push({ el, start, end: start + duration });
      startByElement.set(el, start);
    }
  }
  function applyVisibility(t) {
    for (const clip of timed) {
      // Visible on [start, end); a tiny epsilon absorbs k/fps rounding at the edges.
      const visible = t + 1e-9 >= clip.start && t + 1e-9 < clip.end;
      if (visible) clip.el.removeAttribute("data-hf-hidden");
      else clip.el.setAttribute("data-hf-hidden", "");
    }
  }
  function timelineTime(compositionId, t) {
    const nested = compositions.get(compositionId);
    if (!nested) return t;
    let local = t - nested.offset;
    if (nested.duration !== null) local = Math.min(local, nested.duration + nested.playbackStart);
    return Math.max(0, local);
  }
  // A page may register its timelines as an array: one is the root's, several are named
  // tl-0, tl-1, ... (as HyperFrames normalises them).
  function normaliseTimelines() {
    const registered = window.__timelines;
    if (Array.isArray(registered)) {
      const named = {};
      if (registered.length === 1) named[config.rootId] = registered[0];
      else registered.forEach((timeline, i) => { named["tl-" + i] = timeline; });
      window.__timelines = named;
    } else if (!registered || typeof registered !== "object") {
      window.__timelines = {};
    }
  }
  function seekTimelines(t) {
    // The root's timeline first, then the others, as HyperFrames seeks them.
    const entries = Object.entries(window.__timelines)
      .sort((a, b) => (b[0] === config.rootId) - (a[0] === config.rootId));
    for (const [id, timeline] of entries) {
      if (!timeline || typeof timeline.totalTime !== "function") continue;
      let local = timelineTime(id, t);
      if (typeof timeline.totalDuration === "function") {
        local = Math.min(local, timeline.totalDuration());
      }
      if (typeof timeline.paused === "function" && !timeline.paused()) timeline.paused(true);
      timeline.totalTime(local, false);
    }
  }
  function animationStart(target) {
    // CSS and WAAPI animations run on the time of the closest timed element around them,
    // so an animation inside a clip starts when the clip appears (as in HyperFrames).
    if (!animatedTargets.has(target)) {
      const timedAncestor = target.closest && target.closest("[data-start]");
      animatedTargets.set(target, timedAncestor && startByElement.has(timedAncestor) ?
        startByElement.get(timedAncestor) : 0);
    }
    return animatedTargets.get(target);
  }
  function seekAnimations(t) {
    for (const animation of document.getAnimations()) {
      const target = animation.effect && animation.effect.target;
      const start = target ? animationStart(target) : 0;
      animation.pause();
      animation.currentTime = Math.max(0, t - start) * 1000;
    }
  }

  // ---- animation adapters ------------------------------------------------------
  // Besides GSAP timelines, HyperFrames seeks, in this order: WAAPI and CSS animations
  // (seekAnimations), anime.js, Lottie, three.js and WebGPU pages (through the "hf-seek"
  // event), then pauses what it seeked. A page's adapter object that throws is skipped,
  // as HyperFrames skips it.
  function registry(name) {
    const value = window[name];
    return Array.isArray(value) ? value : [];
  }
  function quietly(action) {
    try { action(); } catch (error) {
      if (window.__hfDebug) console.debug("[hfaction] adapter call failed", error);
    }
  }
  function mergeInto(name, found) {
    if (!Array.isArray(found) || !found.length) return;
    const existing = Array.isArray(window[name]) ? window[name] : [];
    for (const item of found) if (!existing.includes(item)) existing.push(item);
    window[name] = existing;
  }
  function discoverAdapters() {
    // anime.js v3 lists its instances in anime.running (v4 has no such list: pages
    // register in window.__hfAnime); lottie-web lists its animations itself.
    quietly(() => { if (window.anime) mergeInto("__hfAnime", window.anime.running); });
    quietly(() => {
      const lottie = window.lottie;
      if (lottie && typeof lottie.getRegisteredAnimations === "function") {
        mergeInto("__hfLottie", lottie.getRegisteredAnimations());
      }
    });
  }
  function isDotLottie(anim) {
    return typeof anim.pause === "function" && ("totalFrames" in anim || "duration" in anim);
  }
  function seekLottie(anim, t) {
    if (typeof anim.goToAndStop === "function") {
      anim.goToAndStop(t * 1000, false); // lottie-web: milliseconds, not frames
    } else if (isDotLottie(anim)) {
      if (typeof anim.setCurrentRawFrameValue === "function") { // dotLottie 2
        const totalFrames = anim.totalFrames || 0;
        const frameRate = anim.frameRate || 30;
        if (totalFrames > 0) anim.setCurrentRawFrameValue(Math.min(t * frameRate, totalFrames - 1));
      } else if (typeof anim.seek === "function") { // dotLottie 1: a percentage
        const duration = anim.duration || 1;
        anim.seek(Math.min(100, (t / duration) * 100));
      }
    }
  }
  // "hf-seek" fires once per time (three.js and WebGPU share it); a listener may hand
  // detail.waitUntil(promise) work the frame waits for.
  let lastSeekEventTime = -1;
  let seekEventWaits = [];
  function dispatchSeekEvent(time) {
    if (time === lastSeekEventTime) return;
    lastSeekEventTime = time;
    const pending = [];
    let accepting = true;
    const detail = {
      time,
      waitUntil(promise) {
        if (!accepting) {
          throw new Error("hf-seek waitUntil() must be called synchronously from the listener");
        }
        pending.push(promise);
      },
    };
    try { window.dispatchEvent(new CustomEvent("hf-seek", { detail })); }
    finally { accepting = false; }
    if (pending.length) seekEventWaits.push(Promise.all(pending));
  }
  function seekAnime(t) {
    const ms = Math.max(0, t * 1000);
    for (const instance of registry("__hfAnime")) {
      quietly(() => { if (typeof instance.seek === "function") instance.seek(ms); });
    }
  }
  // anime.js timelines that animate one property of one element (a "to" value taking
  // over from an earlier timeline's) draw a time differently when seeked straight to it
  // than when seeked through the frames before it: what a frame shows depends on the
  // times anime.js saw before. A render seeks every frame from 0; a chunk that starts
  // later, or a jump, first seeks anime.js (nothing else: the rest depends on time alone)
  // through the frames it skipped, so the frame is the one a render from frame 0 draws.
  let animeSeekedFrame = -1;
  function replayAnime(frame) {
    if (!registry("__hfAnime").length) return;
    for (let skipped = animeSeekedFrame + 1; skipped < frame; skipped++) {
      seekAnime(skipped * config.fpsDen / config.fpsNum);
    }
    animeSeekedFrame = Math.max(animeSeekedFrame, frame);
  }
  function seekAdapters(t, frame) {
    replayAnime(frame);
    seekAnime(t);
    for (const anim of registry("__hfLottie")) {
      quietly(() => { if (anim && typeof anim === "object") seekLottie(anim, t); });
    }
    // Both times are set before the event, so a listener may read either.
    window.__hfThreeTime = t;
    window.__hfTypegpuTime = t;
    dispatchSeekEvent(t);
  }
  function pauseAdapters() {
    for (const instance of registry("__hfAnime")) {
      quietly(() => { if (typeof instance.pause === "function") instance.pause(); });
    }
    for (const anim of registry("__hfLottie")) {
      quietly(() => {
        if (anim && typeof anim === "object" && typeof anim.pause === "function" &&
            (typeof anim.goToAndStop === "function" || isDotLottie(anim))) anim.pause();
      });
    }
  }

  // ---- the root's layout -------------------------------------------------------
  // As HyperFrames, once the document is parsed: <html> and <body> without margin and
  // padding (no default 8px white edge), overflow hidden.
  function normalisePageChrome() {
    for (const el of [document.documentElement, document.body]) {
      if (!el || !el.style) continue;
      el.style.margin = "0";
      el.style.padding = "0";
      el.style.overflow = "hidden";
    }
  }
  if (!isChildFrame) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", normalisePageChrome, { once: true });
    } else {
      normalisePageChrome();
    }
  }
  // As HyperFrames lays out the root for a render: its data-width/data-height as inline
  // size (and --comp-width/--comp-height), position relative unless set inline, overflow
  // hidden; its direct timed children stacked at its top-left corner, filling it when
  // they have no size of their own.
  function px(value) {
    if (value === null || String(value).trim() === "") return null;
    const number = Number.parseFloat(value);
    return Number.isFinite(number) && number > 0 ? number + "px" : null;
  }
  function rootElement() {
    return document.querySelector('[data-composition-id="' + CSS.escape(config.rootId) + '"]');
  }
  function layOutRoot() {
    const root = rootElement();
    if (!root || !root.style) return;
    const width = px(root.getAttribute("data-width"));
    const height = px(root.getAttribute("data-height"));
    if (width) { root.style.width = width; root.style.setProperty("--comp-width", width); }
    if (height) { root.style.height = height; root.style.setProperty("--comp-height", height); }
    if (!root.style.position) root.style.position = "relative";
    root.style.overflow = "hidden";
    for (const el of root.children) {
      if (NOT_TIMED.has(el.tagName) || !el.hasAttribute("data-start") || !el.style) continue;
      const computed = getComputedStyle(el);
      if (computed.position !== "absolute" && computed.position !== "fixed") {
        el.style.position = "absolute";
      }
      if (!el.style.top && !el.style.bottom && computed.top === "auto" &&
          computed.bottom === "auto") el.style.top = "0";
      if (!el.style.left && !el.style.right && computed.left === "auto" &&
          computed.right === "auto") el.style.left = "0";
      if (el.tagName === "AUDIO") continue;
      for (const [side, attribute] of [["width", "data-width"], ["height", "data-height"]]) {
        const given = px(el.getAttribute(attribute));
        const current = computed[side];
        if (given) {
          if (!el.style[side] && (current === "0px" || current === "auto")) el.style[side] = given;
        } else if (!el.style[side] && current === "0px") {
          el.style[side] = "100%";
        }
      }
    }
  }

  // ---- duration ------------------------------------------------------------------
  // The length the page gives itself when the root declares none, as HyperFrames
  // derives it: the root timeline's duration (or, without one, its nested compositions'
  // timelines placed at their starts, or the one timeline registered), at least the
  // latest end among timed media with a data-duration, the root's nested compositions,
  // and finite CSS/WAAPI and Lottie animations. Null when nothing gives one.
  const MIN_DURATION = 1 / 60;
  function durationOf(timeline) {
    if (!timeline || typeof timeline.duration !== "function") return null;
    const value = Number(timeline.duration());
    return Number.isFinite(value) && value > MIN_DURATION ? value : null;
  }
  function timelineDuration() {
    const timelines = window.__timelines;
    const root = durationOf(timelines[config.rootId]);
    if (root !== null) return root;
    let nested = null;
    for (const [id, info] of compositions) {
      const length = durationOf(timelines[id]);
      if (length !== null) nested = Math.max(nested || 0, info.offset + info.playbackStart + length);
    }
    if (nested !== null) return nested;
    const others = Object.entries(timelines).filter(([id, timeline]) => !compositions.has(id) &&
      timeline && typeof timeline.play === "function" && typeof timeline.pause === "function");
    return others.length === 1 ? durationOf(others[0][1]) : null;
  }
  function durationFloor() {
    let floor = 0;
    for (const clip of timed) {
      if (!Number.isFinite(clip.end)) continue;
      const media = clip.el.tagName === "VIDEO" || clip.el.tagName === "AUDIO";
      const child = clip.el.hasAttribute("data-composition-id") &&
        compositionOf(clip.el) === config.rootId;
      if (media || child) floor = Math.max(floor, clip.end);
    }
    for (const animation of document.getAnimations()) {
      quietly(() => {
        const end = animation.effect.getComputedTiming().endTime;
        const target = animation.effect.target;
        if (Number.isFinite(end)) floor = Math.max(floor, (target ? animationStart(target) : 0) +
                                                          end / 1000);
      });
    }
    for (const anim of registry("__hfLottie")) {
      quietly(() => {
        let seconds = null;
        if (typeof anim.goToAndStop === "function" || !isDotLottie(anim)) {
          if (anim.totalFrames > 0 && anim.frameRate > 0) seconds = anim.totalFrames / anim.frameRate;
        } else if (Number.isFinite(anim.duration) && anim.duration > 0) {
          seconds = anim.duration;
        } else if (anim.totalFrames > 0 && anim.frameRate > 0) {
          seconds = anim.totalFrames / anim.frameRate;
        }
        if (seconds !== null) floor = Math.max(floor, seconds);
      });
    }
    return floor > MIN_DURATION ? floor : 0;
  }
  function inferredDuration() {
    const length = timelineDuration();
    const floor = durationFloor();
    if (length !== null) return Math.max(length, floor);
    return floor > 0 ? floor : null;
  }

  // ---- same-origin frames ----------------------------------------------------------
  // An <iframe>'s page runs this runtime too (for composition time only); every seek
  // moves it, and its frames, to the same time (no offset by the iframe's data-start).
  function seekChildFrames(frame, win) {
    let frames;
    try { frames = win.frames; } catch (error) { return; }
    for (let i = 0; i < frames.length; i++) {
      let child;
      try {
        child = frames[i];
        if (!child || child === win) continue;
        const api = child[RUNTIME_KEY];
        if (api && typeof api.seekChild === "function") api.seekChild(frame);
      } catch (error) { continue; } // another origin
      seekChildFrames(frame, child);
    }
  }
  // Composition time for frame: the clock, the seeded random and due timers move to it.
  function advanceClock(frame) {
    const t = frame * config.fpsDen / config.fpsNum;
    nowMs = t * 1000;
    reseed(frame);
    runTimersUntil(nowMs);
    return t;
  }
  function seekChild(frame) {
    const t = advanceClock(frame);
    seekAnimations(t);
    runAnimationFrames();
    return frame;
  }

  function seek(frame) {
    const t = advanceClock(frame);
    seekTimelines(t);
    seekAnimations(t);
    seekAdapters(t, frame);
    pauseAdapters();
    applyVisibility(t);
    runAnimationFrames();
    seekChildFrames(frame, window);
    const waits = seekEventWaits;
    seekEventWaits = [];
    if (!videos.length && !waits.length) return frame;
    return Promise.all([videos.length ? showVideoFrames(frame) : null, ...waits])
      .then(() => frame);
  }

  // ---- media -----------------------------------------------------------------
  // The renderer owns media time: <audio> and <video> never load or play here (the mix
  // was made at planning), and a <video> shows, as its poster, the source frame that
  // planning extracted for the current frame. The element keeps its box, its CSS and
  // object-fit; no browser playback clock is involved.
  const realFetch = window.fetch.bind(window);
  function quietMedia(el) {
    if (!el || (el.tagName !== "VIDEO" && el.tagName !== "AUDIO")) return;
    if (el.hasAttribute("src")) el.removeAttribute("src");
    for (const source of el.querySelectorAll("source")) source.remove();
    if (el.hasAttribute("autoplay")) el.removeAttribute("autoplay");
    if (el.getAttribute("preload") !== "none") el.setAttribute("preload", "none");
  }
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "attributes") quietMedia(record.target);
      for (const node of record.addedNodes || []) {
        if (node.nodeType !== 1) continue;
        quietMedia(node);
        for (const el of node.querySelectorAll("video, audio")) quietMedia(el);
      }
    }
  }).observe(document, { childList: true, subtree: true, attributes: true,
                         attributeFilter: ["src"] });

  const videos = []; // {el, entry, shown}
  function bindVideos() {
    for (const el of document.querySelectorAll("video, audio")) quietMedia(el);
    for (const entry of config.videos || []) {
      const candidates = [...document.querySelectorAll("video")]
        .filter((el) => compositionOf(el) === entry.composition);
      let el = entry.id ? candidates.find((candidate) => candidate.id === entry.id) : null;
      if (!el) el = candidates[entry.ordinal];
      if (!el) throw new Error("the <video> at " + entry.where + " is not in the page");
      videos.push({ el, entry, shown: -1 });
    }
  }
  function dataUrl(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }
  async function loadFrame(dir, index) {
    const url = "/__hf_frozen/" + dir + String(index).padStart(6, "0") + ".jpg";
    const response = await realFetch(url);
    if (!response.ok) throw new Error("video frame " + url + " is missing from the plan");
    // A data: URL poster is drawn on the very next frame, once decoded here.
    const src = await dataUrl(await response.blob());
    const image = new Image();
    image.src = src;
    await image.decode();
    return src;
  }
  async function showVideoFrames(frame) {
    const updates = [];
    for (const video of videos) {
      const { entry } = video;
      if (frame < entry.first || !entry.frames.length) continue;
      const index = entry.frames[Math.min(frame - entry.first, entry.frames.length - 1)];
      if (index === video.shown) continue;
      video.shown = index;
      updates.push(loadFrame(entry.dir, index).then((src) => [video.el, src]));
    }
    for (const [el, src] of await Promise.all(updates)) el.setAttribute("poster", src);
  }

  // ---- readiness -------------------------------------------------------------
  let waitingFor = "the page to load";
  const sleep = (ms) => new Promise((resolve) => realSetTimeout(resolve, ms));

  // Requests in flight: a page that registers its timeline after fetching data is not
  // given up on while the data is on its way.
  let inFlight = 0;
  if (!isChildFrame) {
    const pageFetch = window.fetch;
    window.fetch = function fetch(...args) {
      inFlight++;
      let settled = false;
      const done = () => { if (!settled) { settled = true; inFlight--; } };
      try {
        const response = pageFetch.apply(this, args);
        response.then(done, done);
        return response;
      } catch (error) { done(); throw error; }
    };
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (...args) {
      inFlight++;
      this.addEventListener("loadend", () => { inFlight--; }, { once: true });
      try { return send.apply(this, args); } catch (error) { inFlight--; throw error; }
    };
  }

  // What readiness waits for besides timelines, as HyperFrames gates its render: three.js
  // loaders, maps (mapbox, leaflet, Google Maps, maplibre) and d3 transitions registered
  // by the page; and, so that no frame shows a half-loaded animation, Lottie files.
  function instanceGate(label, name, waitFor) {
    const settled = new WeakSet();
    const started = new WeakSet();
    return { label, pending() {
      let pending = false;
      for (const instance of registry(name)) {
        if (!instance || (typeof instance !== "object" && typeof instance !== "function")) continue;
        if (settled.has(instance)) continue;
        if (!started.has(instance)) {
          started.add(instance);
          const settle = () => settled.add(instance);
          try { Promise.resolve(waitFor(instance)).then(settle, settle); }
          catch (error) { settle(); continue; }
        }
        if (!settled.has(instance)) pending = true;
      }
      return pending;
    } };
  }
  const onLoadEvent = (map) => new Promise((resolve) => {
    if (map.loaded()) resolve(); else map.on("load", resolve);
  });
  const gates = [
    { label: "three.js loaders (THREE.DefaultLoadingManager)", pending() {
      const manager = window.THREE && window.THREE.DefaultLoadingManager;
      return !!manager && typeof manager.itemsLoaded === "number" &&
        typeof manager.itemsTotal === "number" && manager.itemsLoaded < manager.itemsTotal;
    } },
    instanceGate("a mapbox map to load (window.__hfMapbox)", "__hfMapbox", onLoadEvent),
    instanceGate("a leaflet map to be ready (window.__hfLeaflet)", "__hfLeaflet",
                 (map) => new Promise((resolve) => map.whenReady(resolve))),
    instanceGate("a Google map's tiles to load (window.__hfGoogleMaps)", "__hfGoogleMaps",
                 (map) => new Promise((resolve) => {
                   let handle = null;
                   let fired = false;
                   const remove = () => { if (handle && typeof handle.remove === "function") handle.remove(); };
                   handle = map.addListener("tilesloaded", () => { fired = true; remove(); resolve(); });
                   if (fired) remove();
                 })),
    instanceGate("a maplibre map to load (window.__hfMaplibre)", "__hfMaplibre", onLoadEvent),
    instanceGate("d3 transitions to end (window.__hfD3)", "__hfD3", (transition) => transition.end()),
    { label: "Lottie animations to load (window.__hfLottie)", pending() {
      return registry("__hfLottie").some((anim) => anim && anim.isLoaded === false);
    } },
  ];

  // A timeline the page has not registered once it is quiet (nothing in flight, no
  // timer due soon) for QUIET_MS, or after TIMELINE_GRACE_MS at most, is rendered
  // without: HyperFrames waits 45 s and then renders the page as it stands.
  const QUIET_MS = 400;
  const TIMELINE_GRACE_MS = 3000;
  async function waitForPage(warnings) {
    const expected = config.timelineIds || [];
    const started = realNow();
    let busySince = started;
    try {
      for (;;) {
        normaliseTimelines();
        discoverAdapters();
        const gate = gates.find((candidate) => candidate.pending());
        const missing = expected.filter((id) => !window.__timelines[id]);
        if (!gate && !missing.length) return;
        const now = realNow();
        const timerSoon = [...timers.values()].some((timer) =>
          timer.due <= loadClockMs + TIMELINE_GRACE_MS);
        if (gate || inFlight > 0 || timerSoon) busySince = now;
        if (!gate && (now - busySince >= QUIET_MS || now - started >= TIMELINE_GRACE_MS)) {
          for (const id of missing) {
            warnings.push("timeline \"" + id + "\" is not registered in window.__timelines; " +
                          "rendering without it (mark a composition without a timeline " +
                          "data-no-timeline)");
          }
          return;
        }
        waitingFor = gate ? gate.label :
          "timeline \"" + missing[0] + "\" to be registered in window.__timelines";
        await sleep(10);
        loadClockMs = realNow() - started;
        runTimersUntil(loadClockMs);
      }
    } finally {
      loadClockMs = 0;
    }
  }

  let readyValue = null;
  async function ready() {
    try {
      if (document.readyState === "loading") {
        await new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve,
                                                                 { once: true }));
      }
      const style = document.createElement("style");
      style.textContent = "[data-hf-hidden], [data-hf-hidden] * {visibility:hidden !important}";
      document.head.appendChild(style);
      bindVariables(document.documentElement, variables);
      waitingFor = "nested compositions to load";
      await mountHosts(document, 0);
      waitingFor = "the window load event (scripts, stylesheets, images)";
      if (document.readyState !== "complete") {
        await new Promise((resolve) => window.addEventListener("load", resolve, { once: true }));
      }
      runTimersUntil(0);
      const warnings = [];
      await waitForPage(warnings);
      waitingFor = "fonts (document.fonts.ready)";
      await document.fonts.ready;
      waitingFor = "images to decode";
      const broken = [];
      await Promise.all([...document.images].map((img) =>
        img.decode().catch(() => { if (img.getAttribute("src")) broken.push(img.getAttribute("src")); })));
      if (broken.length) return JSON.stringify({ ok: false, error: "image " + broken[0] +
                                                 " could not be loaded or decoded" });
      layOutRoot();
      collectTimed();
      bindVideos();
      const duration = inferredDuration();
      await seek(0);
      waitingFor = "done";
      return JSON.stringify({ ok: true, timelineDuration: duration, warnings,
                              timelines: Object.keys(window.__timelines).sort() });
    } catch (error) {
      return JSON.stringify({ ok: false, error: String(error && error.message || error) });
    }
  }

  if (isChildFrame) {
    publish({ seekChild });
  } else {
    publish({
      ready() { ready().then((value) => { readyValue = value; }); return 1; },
      readyValue: () => readyValue,
      seek,
      waitingFor: () => waitingFor,
    });
  }
})();
