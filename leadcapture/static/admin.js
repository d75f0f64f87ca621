/* leadcapture admin: small progressive enhancements; every page works without this file. */
(function () {
  "use strict";

  // Copy buttons: <button data-copy="ID" hidden> copies the value of the element with that id.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentElement.querySelector(".copied");
    if (!source) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { if (status) { status.textContent = "Copied to the clipboard."; } };
      var fallback = function () {
        source.focus();
        source.select();
        try { document.execCommand("copy"); done(); } catch (e) { if (status) { status.textContent = "Press Ctrl+C to copy."; } }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  // Live preview: the editor posts itself into the preview frame as you type (without the upload).
  var editor = document.getElementById("editor");
  var previewButton = document.getElementById("preview-button");
  if (editor && previewButton && editor.requestSubmit) {
    var timer = null;
    var refresh = function () {
      var files = editor.querySelectorAll("input[type=file]");
      files.forEach(function (f) { f.disabled = true; });
      editor.requestSubmit(previewButton);
      files.forEach(function (f) { f.disabled = false; });
    };
    var later = function () { window.clearTimeout(timer); timer = window.setTimeout(refresh, 600); };
    editor.addEventListener("input", later);
    editor.addEventListener("change", later);
    refresh();
  }

  // Print buttons: shown only where printing from a script works.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
