// hfaction egress guard: injected before any page script, in every frame (a Playwright init
// script; capture.py installs it around Playwright's WebSocket routing).
//
// Request routing (capture.AssetServer) sees HTTP(S) only. A WebSocket, a WebTransport
// session or an RTCPeerConnection reaching a STUN/TURN server would carry the page's
// variables past it, so their constructors are replaced by stubs that throw a
// SecurityError (what Chromium throws for a WebSocket to a blocked port), the same in
// every run. The names stay defined, with their constants (WebSocket.OPEN...): a page
// that only tests for them, or catches the error, renders as before.
//
// A stub shares nothing with what it replaces (its prototype is its own), so no path
// leads from it back to a constructor that connects. Workers get no init script: the
// browser's launch flags (browser.NO_EGRESS_ARGS) are what stop a socket opened there.
(() => {
  "use strict";
  const BLOCKED = ["WebSocket", "WebSocketStream", "WebTransport", "RTCPeerConnection",
                   "webkitRTCPeerConnection", "RTCDataChannel", "RTCIceTransport"];
  const stubs = new Map();
  for (const name of BLOCKED) {
    const original = window[name];
    if (typeof original !== "function") continue;
    if (!stubs.has(original)) {
      // A function, not a class: called with or without `new`, it throws.
      const stub = function () {
        throw new DOMException(name + " is disabled: hfaction renders offline and lets a " +
                               "page open no connection", "SecurityError");
      };
      Object.defineProperty(stub, "name", { value: name });
      // Constants only, own or inherited (a subclass inherits its parent's).
      for (let from = original; from && from !== Function.prototype;
           from = Object.getPrototypeOf(from)) {
        for (const key of Object.getOwnPropertyNames(from)) {
          const descriptor = Object.getOwnPropertyDescriptor(from, key);
          if (key in stub || !descriptor || !("value" in descriptor) ||
              typeof descriptor.value === "function" || typeof descriptor.value === "object") {
            continue;
          }
          Object.defineProperty(stub, key, { value: descriptor.value, enumerable: true });
        }
      }
      stubs.set(original, stub);
    }
    // Writable and configurable like the original, so a page that polyfills the name
    // does not throw.
    Object.defineProperty(window, name, { value: stubs.get(original), writable: true,
                                          configurable: true, enumerable: false });
  }
})();
