/* Inside the embed iframe: tell the host page our height so it can size the frame. */
(function () {
  "use strict";
  function report() {
    window.parent.postMessage({ type: "leadcapture:height", height: document.documentElement.scrollHeight }, "*");
  }
  window.addEventListener("load", report);
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
  var focus = document.getElementById("done") || document.getElementById("errors");
  if (focus) focus.focus();
})();
