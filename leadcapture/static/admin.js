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
    // Fields outside the form element that belong to it (the preview's choice of mail or page).
    var previewOf = document.getElementById("preview_of");
    document.querySelectorAll("[form=editor]").forEach(function (field) { field.addEventListener("change", refresh); });
    // Editing a mail's or page's wording turns the preview to that mail or page.
    document.querySelectorAll("[data-preview]").forEach(function (field) {
      field.addEventListener("focus", function () {
        if (previewOf && previewOf.value !== field.getAttribute("data-preview")) {
          previewOf.value = field.getAttribute("data-preview");
          refresh();
        }
      });
    });
    refresh();
  }

  // Print buttons: shown only where printing from a script works.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });

  // Funnel charts: the vendored uPlot draws the numbers of #funnel-data (the tables hold the same).
  var funnelData = document.getElementById("funnel-data");
  if (funnelData && window.uPlot) {
    var funnel = JSON.parse(funnelData.textContent);
    var xs = funnel.buckets.map(function (b) { return Date.parse(b + "T00:00:00Z") / 1000; });
    var colours = { views: "#4b5563", asked: "#0b5cab", confirmed: "#1b6e34", downloaded: "#8a5a00", withdrawn: "#b42318" };
    var draw = function (el, named) {
      var series = [{}];
      var values = [xs];
      Object.keys(named).forEach(function (name) {
        series.push({ label: name, stroke: colours[name], width: 2, dash: name === "withdrawn" ? [6, 4] : undefined });
        values.push(named[name]);
      });
      var options = {
        width: Math.max(320, Math.min(el.clientWidth || 720, 1100)),
        height: 220,
        series: series,
        scales: { x: { time: true } },
        tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }
      };
      new window.uPlot(options, values, el);
    };
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var which = el.getAttribute("data-chart");
      if (which === "views") { draw(el, { views: funnel.views }); return; }
      var row = funnel.rows[Number(which)];
      var named = {};
      Object.keys(row.series).forEach(function (name) {
        var skip = row.key === "asset" ? name === "withdrawn" : name === "downloaded";
        if (!skip) { named[name] = row.series[name]; }
      });
      draw(el, named);
    });
  }
})();
