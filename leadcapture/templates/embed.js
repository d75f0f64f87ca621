/* leadcapture embed for form "{{ slug }}": renders the hosted form in an auto-sizing iframe. */
(function () {
  "use strict";
  var ORIGIN = {{ origin|tojson }};
  var script = document.currentScript;
  var frame = document.createElement("iframe");
  frame.src = {{ frame_url|tojson }} + "&page=" + encodeURIComponent(location.href.slice(0, 2000));
  frame.title = {{ title|tojson }};
  frame.setAttribute("loading", "lazy");
  frame.style.cssText = "width:100%;max-width:640px;border:0;height:640px;display:block;";
  window.addEventListener("message", function (event) {
    if (event.origin !== ORIGIN || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.type === "leadcapture:height" && typeof data.height === "number") {
      frame.style.height = Math.min(Math.max(data.height, 120), 4000) + "px";
    }
  });
  if (script && script.parentNode) {
    script.parentNode.insertBefore(frame, script.nextSibling);
  } else {
    document.body.appendChild(frame);
  }
})();
