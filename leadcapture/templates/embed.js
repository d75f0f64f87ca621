/* leadcapture embed for form "{{ slug }}": renders the hosted form in an auto-sizing iframe.
   The iframe is served from our origin (no cookies needed: the form token is in the page), so it
   works with third-party cookies blocked. CSP frame-ancestors on the form is the real guard;
   the origin check below only spares a non-allowed page a frame the browser would refuse anyway. */
(function () {
  "use strict";
  var ORIGIN = {{ origin|tojson }};
  var ALLOWED = {{ allowed|tojson }};
  var script = document.currentScript;
  var here = window.location.origin;
  if (ALLOWED.indexOf(here) === -1) {
    if (window.console) console.warn("leadcapture: " + here + " may not embed form {{ slug }}; add it to allowed_origins");
    return;
  }
  var frame = document.createElement("iframe");
  frame.src = {{ frame_url|tojson }} + "&origin=" + encodeURIComponent(here) +
    "&page=" + encodeURIComponent(window.location.href.slice(0, 2000));
  frame.title = {{ title|tojson }};
  frame.className = "leadcapture-form";
  frame.setAttribute("data-leadcapture", {{ slug|tojson }});
  frame.style.cssText = "width:100%;max-width:640px;border:0;height:640px;display:block;";
  window.addEventListener("message", function (event) {
    /* Only our origin, and only this very frame (several forms may share a page). */
    if (event.origin !== ORIGIN || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.type === "leadcapture:height" && typeof data.height === "number" && isFinite(data.height)) {
      frame.style.height = Math.min(Math.max(Math.ceil(data.height), 120), 4000) + "px";
    } else if (data.type === "leadcapture:done" || data.type === "leadcapture:errors") {
      /* The thank-you or error state replaced the form inside the frame: bring it into view;
         focus moved inside the frame already, so screen readers announce it. */
      if (frame.scrollIntoView) frame.scrollIntoView({ block: "nearest" });
    }
  });
  if (script && script.parentNode) {
    script.parentNode.insertBefore(frame, script.nextSibling);
  } else {
    document.body.appendChild(frame);
  }
})();
