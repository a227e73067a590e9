// Panel UI behaviour that needs JavaScript; every page also works without it.
// Loaded as a static file (strict CSP: no inline script). htmx does the live updates.
(function () {
  "use strict";

  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var zoneName = (function () {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(new Date());
      for (var i = 0; i < parts.length; i++) { if (parts[i].type === "timeZoneName") { return parts[i].value; } }
    } catch (e) { /* older browsers: no zone label */ }
    return "";
  })();

  // <time datetime="...Z" title="... UTC"> -> "YYYY-MM-DD HH:MM:SS <zone>" in the browser's zone;
  // the UTC value stays in the title (shown on hover).
  function localTimes(root) {
    var nodes = (root || document).querySelectorAll("time[datetime]:not([data-local])");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) { continue; }
      node.textContent = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate()) + " " +
        pad(when.getHours()) + ":" + pad(when.getMinutes()) + ":" + pad(when.getSeconds()) +
        (zoneName ? " " + zoneName : "");
      node.setAttribute("data-local", "");
    }
  }

  // "Select all" for the bulk check on the server list (the checkbox is hidden without JavaScript).
  function bulkSelect(root) {
    var all = (root || document).querySelector("#select-all");
    if (!all || all.hasAttribute("data-ready")) { return; }
    all.setAttribute("data-ready", "");
    all.hidden = false;
    var boxes = function () { return document.querySelectorAll("input[name=server_id]"); };
    var count = document.getElementById("selected-count");
    var update = function () {
      var list = boxes(), n = 0;
      for (var i = 0; i < list.length; i++) { if (list[i].checked) { n++; } }
      all.checked = n > 0 && n === list.length;
      all.indeterminate = n > 0 && n < list.length;
      if (count) { count.textContent = n ? n + " selected" : ""; }
    };
    all.addEventListener("change", function () {
      var list = boxes();
      for (var i = 0; i < list.length; i++) { list[i].checked = all.checked; }
      update();
    });
    document.addEventListener("change", function (event) {
      if (event.target && event.target.name === "server_id") { update(); }
    });
  }

  function enhance(root) { localTimes(root); bulkSelect(root); }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  // htmx swaps in new HTML (live status, polling): convert its times as well.
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
  document.addEventListener("htmx:oobAfterSwap", function (event) { localTimes(event.target); });
  // A status pill that is waiting for its own check ("checking…") polls for that job's outcome;
  // the page-wide refresh must not put the old status back in the meantime.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("pill-pending")) { event.detail.shouldSwap = false; }
  });
})();
