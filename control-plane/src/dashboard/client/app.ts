/**
 * The dashboard's one client script (served as /dashboard/assets/app.js, no
 * inline script so the Content-Security-Policy can forbid inline code):
 *
 * - live updates: an EventSource on /dashboard/events; an agent event updates
 *   that agent's row in place, an incidents event re-reads the current page
 *   with the session cookie and swaps its `#live` region (debounced), so what
 *   appears is exactly what the server renders for this key;
 * - in-browser verification on a bundle page: canonical signing text computed
 *   here (CANONICAL_JS) and the ed25519 signature checked with tweetnacl
 *   against the agent's public key, shown beside the server's verdict.
 */
import { CANONICAL_JS } from "./canonical.js";

const LIVE_JS = `
(function () {
  function announce(text) {
    var status = document.getElementById("live-status");
    if (status) status.textContent = text;
  }
  function setStream(state) {
    var el = document.getElementById("stream-state");
    if (el) { el.textContent = state; el.setAttribute("data-state", state); }
  }
  var live = document.getElementById("live");
  var timer = null;
  function refresh() {
    timer = null;
    fetch(location.href, { credentials: "same-origin", headers: { accept: "text/html" } })
      .then(function (res) {
        if (res.redirected || !res.ok) { location.reload(); return null; }
        return res.text();
      })
      .then(function (html) {
        if (html === null || !live) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("live");
        if (!next) return;
        var focused = document.activeElement && document.activeElement.id;
        live.innerHTML = next.innerHTML;
        if (focused) { var again = document.getElementById(focused); if (again) again.focus(); }
        announce("Updated " + new Date().toLocaleTimeString());
      })
      .catch(function () { announce("Update failed; reload the page"); });
  }
  if (typeof EventSource === "undefined" || !document.body.hasAttribute("data-live")) return;
  var wants = document.body.getAttribute("data-live").split(" ");
  var es = new EventSource("/dashboard/events");
  es.onopen = function () { setStream("live"); };
  es.onerror = function () { setStream("reconnecting"); };
  es.addEventListener("agent", function (msg) {
    var ev = JSON.parse(msg.data);
    var row = document.querySelector('tr[data-agent-id="' + CSS.escape(ev.agent_id) + '"][data-client-id="' + CSS.escape(ev.client_id) + '"]');
    if (row) {
      var cell = row.querySelector(".conn");
      if (cell && cell.getAttribute("data-state") !== "revoked") {
        cell.textContent = ev.connection;
        cell.setAttribute("data-state", ev.connection);
      }
      var seen = row.querySelector(".last-seen");
      if (seen) seen.textContent = ev.connection === "online" ? "now" : new Date().toISOString();
    }
    announce("Agent " + ev.agent_id + " is " + ev.connection);
    if (wants.indexOf("agents") >= 0 && !row && live && timer === null) timer = setTimeout(refresh, 250);
  });
  es.addEventListener("incidents", function () {
    if (wants.indexOf("incidents") < 0 || !live) return;
    if (timer === null) timer = setTimeout(refresh, 250);
  });
  es.addEventListener("end", function () { es.close(); setStream("signed out"); });
})();
`;

const VERIFY_JS = `
(function () {
  var data = document.getElementById("bundle-data");
  var out = document.getElementById("browser-verdict");
  var detail = document.getElementById("browser-detail");
  if (!data || !out) return;
  function b64(s) {
    var bin = atob(s), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }
  function show(verdict, text) {
    out.textContent = verdict;
    out.setAttribute("data-verdict", verdict);
    if (detail) detail.textContent = text;
  }
  try {
    var input = JSON.parse(data.textContent);
    var bundle = JSON.parse(input.raw);
    if (!input.public_key) { show("unknown key", "The agent has no registered public key."); return; }
    var text = mspBundleSigningText(bundle);
    var msg = new TextEncoder().encode(text);
    var sig = b64(bundle.signature.value);
    var pk = b64(input.public_key);
    if (sig.length !== 64 || pk.length !== 32) { show("invalid", "Signature or key has the wrong length."); return; }
    var ok = window.nacl.sign.detached.verify(msg, sig, pk);
    var same = input.server_signing_text === text;
    show(ok ? "valid" : "invalid",
      "ed25519 (tweetnacl) over " + msg.length + " canonical bytes computed in this browser; " +
      (same ? "identical to" : "DIFFERENT from") + " the server's signing bytes.");
  } catch (e) {
    show("error", "Could not verify: " + (e && e.message ? e.message : String(e)));
  }
})();
`;

/** The script text served as /dashboard/assets/app.js. */
export const APP_JS = `${CANONICAL_JS}\n${LIVE_JS}\n${VERIFY_JS}`;
