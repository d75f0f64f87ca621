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
  function place(element) {
    if (script && script.parentNode) {
      script.parentNode.insertBefore(element, script.nextSibling);
    } else {
      document.body.appendChild(element);
    }
  }
  if (ALLOWED.indexOf(here) === -1) {
    /* Tell the site owner who is testing the embed, on the page itself and in the console. */
    if (window.console) console.warn("leadcapture: " + here + " may not embed form {{ slug }}; add it to allowed_origins");
    var notice = document.createElement("p");
    notice.className = "leadcapture-notice";
    notice.setAttribute("data-leadcapture-notice", {{ slug|tojson }});
    notice.setAttribute("role", "note");
    notice.textContent = {{ not_allowed|tojson }}.replace("{origin}", here);
    notice.style.cssText = "max-width:640px;box-sizing:border-box;margin:0;padding:12px 16px;border:2px dashed #b42318;" +
      "border-radius:6px;background:#fff;color:#b42318;font:14px/1.5 system-ui,-apple-system,sans-serif;";
    place(notice);
    return;
  }
  var frame = document.createElement("iframe");
  /* Where the visitor came from: the host page's campaign tags and its referrer, read here and
     passed in the frame's URL (no cookie). The server cleans them and keeps the referrer's origin
     and path only; the page's own address loses its query there too. */
  var source = "";
  var params = new URLSearchParams(window.location.search);
  ["utm_source", "utm_medium", "utm_campaign"].forEach(function (name) {
    var value = params.get(name);
    if (value) source += "&" + name + "=" + encodeURIComponent(value.slice(0, 200));
  });
  if (document.referrer) source += "&ref=" + encodeURIComponent(document.referrer.split(/[?#]/)[0].slice(0, 1000));
  frame.src = {{ frame_url|tojson }} + "&origin=" + encodeURIComponent(here) +
    "&page=" + encodeURIComponent(window.location.href.slice(0, 2000)) + source;
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
  place(frame);
})();
