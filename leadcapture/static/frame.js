/* Inside the embed iframe: tell the host page our height and state, only ever at its own origin
   (validated by the server against the form's allowed_origins); never to any origin at all. */
(function () {
  "use strict";
  var script = document.currentScript;
  var parentOrigin = script && script.getAttribute("data-parent-origin");
  function post(message) {
    if (parentOrigin && window.parent !== window) window.parent.postMessage(message, parentOrigin);
  }
  /* The content's own height. Not documentElement.scrollHeight: it never falls below the frame's
     height, so a frame sized by it could only grow (a tall form left a tall blank after submit). */
  function contentHeight() {
    var body = document.body, style = window.getComputedStyle(body);
    return Math.ceil(body.getBoundingClientRect().height + parseFloat(style.marginTop) + parseFloat(style.marginBottom));
  }
  function report() {
    post({ type: "leadcapture:height", height: contentHeight() });
  }
  window.addEventListener("load", report);
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
  var done = document.getElementById("done");
  var errors = document.getElementById("errors");
  /* After a submit, move focus to the outcome so keyboard and screen-reader users land on it
     (role=alert on the errors announces them). The first view never steals focus from the host. */
  if (done) {
    done.focus();
    post({ type: "leadcapture:done" });
  } else if (errors) {
    errors.focus();
    post({ type: "leadcapture:errors" });
  }
})();
