// hfaction page runtime: injected before any page script (Playwright init script).
// It implements ../shared/COMPOSITION.md in the page: a frozen clock, seeded
// randomness, nested compositions, variables, clip visibility, and seeking of
// GSAP timelines, CSS animations and WAAPI to the exact time of a frame.
//
// Python drives it with two calls, each returning a primitive (Playwright can
// hang serialising complex objects): `await __hf.ready()` -> JSON string, and
// `__hf.seek(frame)` -> number.
(() => {
  "use strict";
  const config = window.__hfConfig;
  if (!config || window.__hf) return;

  // ---- frozen clock ---------------------------------------------------------
  // Pages must not depend on wall-clock time: every clock reads the frame time.
  const RealDate = Date;
  const realSetTimeout = window.setTimeout.bind(window);
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
  let timerSeq = 0;
  const timers = new Map();
  function addTimer(callback, delay, args, repeat) {
    const id = ++timerSeq;
    const interval = Math.max(0, Number(delay) || 0);
    timers.set(id, { id, due: nowMs + interval, interval, callback, args, repeat });
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
      invoke(next.callback, next.args);
    }
    nowMs = target;
  }
  function invoke(callback, args) {
    if (typeof callback === "function") callback(...(args || []));
    else if (typeof callback === "string") (0, eval)(callback);
  }

  let rafSeq = 0;
  let rafQueue = new Map();
  window.requestAnimationFrame = (cb) => { rafQueue.set(++rafSeq, cb); return rafSeq; };
  window.cancelAnimationFrame = (id) => { rafQueue.delete(id); };
  function runAnimationFrames() {
    const due = rafQueue;
    rafQueue = new Map();
    for (const cb of due.values()) cb(nowMs);
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
  window.__timelines = window.__timelines || {};

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
  // Scripts of a nested composition see a document whose queries stay inside their
  // host, and GSAP selector text scoped to it (gsap.context), as in HyperFrames.
  const scopes = [];
  function scopedDocument(host) {
    return new Proxy(document, {
      get(target, key) {
        if (key === "querySelector") return (s) => host.querySelector(s);
        if (key === "querySelectorAll") return (s) => host.querySelectorAll(s);
        if (key === "getElementById") return (id) => host.querySelector("#" + CSS.escape(id));
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
                                hyperframes: { getVariables: () => Object.assign({}, values) } }) - 1;
    script.textContent = "(function(document, __hyperframes){ var __hfRun = function(){\n" +
      original.textContent + "\n}; if (window.gsap && gsap.context) gsap.context(__hfRun, " +
      "window.__hfScopes[" + index + "].host); else __hfRun(); }).call(window, " +
      "window.__hfScopes[" + index + "].document, window.__hfScopes[" + index + "].hyperframes);";
    host.appendChild(script);
  }
  window.__hfScopes = scopes;

  // A nested composition's styles apply inside its host only (as in HyperFrames), so two
  // compositions may both style ".title". Style rules move into @scope; html, body and
  // :root there mean the composition's root. Other rules (@keyframes, @font-face, @media)
  // stay global; a sheet with @import is left as written.
  const PAGE_ROOTS = /(^|[\s,>+~(])(html|body|:root)(?=$|[\s,>+~.:#[)])/g;
  function scopeStyle(style, compositionId) {
    const text = style.textContent || "";
    if (!compositionId || /@import/i.test(text)) return;
    const sheet = new CSSStyleSheet();
    try { sheet.replaceSync(text); } catch (error) { return; }
    const global = [];
    const scoped = [];
    for (const rule of sheet.cssRules) {
      if (rule instanceof CSSStyleRule) {
        const selector = rule.selectorText.replace(PAGE_ROOTS, "$1:scope");
        scoped.push(selector + rule.cssText.slice(rule.selectorText.length));
      } else {
        global.push(rule.cssText);
      }
    }
    style.textContent = global.join("\n") + "\n@scope ([data-composition-id=" +
      JSON.stringify(compositionId) + "]) {\n" + scoped.join("\n") + "\n}";
  }

  async function mountHosts(scope, depth) {
    if (depth > 16) throw new Error("nested compositions are more than 16 levels deep");
    const hosts = [...scope.querySelectorAll("[data-composition-src]")]
      .filter((host) => !host.hasAttribute("data-hf-mounted"));
    for (const host of hosts) {
      host.setAttribute("data-hf-mounted", "");
      const src = host.getAttribute("data-composition-src");
      const response = await fetch(new URL(src, document.baseURI).href);
      if (!response.ok) throw new Error("nested composition " + src + " failed to load (" +
                                        response.status + ")");
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const hostId = host.getAttribute("data-composition-id");
      const template = (hostId && doc.getElementById(hostId + "-template")) ||
                       doc.querySelector("template");
      const fragment = template ? document.importNode(template.content, true)
                                : document.importNode(doc.body, true);
      const headStyles = [...doc.head.querySelectorAll("style, link[rel=stylesheet]")]
        .map((style) => document.importNode(style, true));
      const scripts = [...fragment.querySelectorAll("script")];
      for (const script of scripts) script.remove();
      const innerRoot = (hostId && fragment.querySelector(
        '[data-composition-id="' + CSS.escape(hostId) + '"]')) ||
        fragment.querySelector("[data-composition-id]");
      let declared = [];
      if (innerRoot) {
        // The inner root stays as a wrapper; the host carries the composition's identity.
        if (!hostId) host.setAttribute("data-composition-id",
                                       innerRoot.getAttribute("data-composition-id"));
        for (const name of ["data-width", "data-height"]) {
          if (!host.hasAttribute(name) && innerRoot.hasAttribute(name)) {
            host.setAttribute(name, innerRoot.getAttribute(name));
          }
        }
        const rawDeclared = innerRoot.getAttribute("data-composition-variables");
        if (rawDeclared) declared = JSON.parse(rawDeclared);
        for (const name of ["data-composition-id", "data-start", "data-duration", "data-end",
                            "data-track-index"]) innerRoot.removeAttribute(name);
        innerRoot.setAttribute("data-hf-inner-root", "true");
      }
      host.appendChild(fragment);
      const compositionId = host.getAttribute("data-composition-id");
      for (const style of headStyles) {
        if (style.tagName === "STYLE") scopeStyle(style, compositionId);
        document.head.appendChild(style);
      }
      for (const style of host.querySelectorAll("style")) scopeStyle(style, compositionId);
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
  function seekTimelines(t) {
    for (const [id, timeline] of Object.entries(window.__timelines)) {
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

  function seek(frame) {
    const t = frame * config.fpsDen / config.fpsNum;
    nowMs = t * 1000;
    reseed(frame);
    runTimersUntil(nowMs);
    seekTimelines(t);
    seekAnimations(t);
    applyVisibility(t);
    runAnimationFrames();
    if (videos.length) return showVideoFrames(frame).then(() => frame);
    return frame;
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
      const expected = config.timelineIds || [];
      for (const id of expected) {
        waitingFor = "timeline \"" + id + "\" to be registered in window.__timelines";
        while (!window.__timelines[id]) { runTimersUntil(0); await sleep(10); }
      }
      waitingFor = "fonts (document.fonts.ready)";
      await document.fonts.ready;
      waitingFor = "images to decode";
      const broken = [];
      await Promise.all([...document.images].map((img) =>
        img.decode().catch(() => { if (img.getAttribute("src")) broken.push(img.getAttribute("src")); })));
      if (broken.length) return JSON.stringify({ ok: false, error: "image " + broken[0] +
                                                 " could not be loaded or decoded" });
      collectTimed();
      bindVideos();
      const root = window.__timelines[config.rootId];
      let duration = null;
      if (root && typeof root.duration === "function") duration = Number(root.duration());
      await seek(0);
      waitingFor = "done";
      return JSON.stringify({ ok: true, timelineDuration: duration,
                              timelines: Object.keys(window.__timelines).sort() });
    } catch (error) {
      return JSON.stringify({ ok: false, error: String(error && error.message || error) });
    }
  }

  window.__hf = { ready, seek, waitingFor: () => waitingFor };
})();
