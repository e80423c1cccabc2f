/* The workflow panel of a detail page (plugins/workflow/pages.py): filter the handling tree by org name,
   expand or collapse it, switch the timeline between 处理日志 and 市级日志, copy the summary's briefing. */
(function () {
  "use strict";
  function nodes() { return Array.prototype.slice.call(document.querySelectorAll("#wf-tree .wf-node")); }
  function setOpen(open) {
    document.querySelectorAll("#wf-tree details").forEach(function (d) { d.open = open; });
  }
  function filter(text) {
    var wanted = text.trim();
    nodes().forEach(function (li) { li.hidden = false; });
    if (!wanted) return;
    // A node stays when its org or one below it matches; its ancestors stay to show the path.
    nodes().reverse().forEach(function (li) {
      var own = (li.getAttribute("data-org") || "").indexOf(wanted) >= 0;
      var below = li.querySelector(".wf-node:not([hidden])") !== null;
      li.hidden = !(own || below);
      if (!li.hidden) li.querySelector("details").open = true;
    });
  }
  function copy() {
    var box = document.getElementById("wf-briefing");
    var told = document.getElementById("wf-copied");
    var done = function () { if (told) told.textContent = "已复制"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(box.value).then(done, function () { box.select(); document.execCommand("copy"); done(); });
    } else {
      box.select();
      document.execCommand("copy");
      done();
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var f = document.getElementById("wf-org-filter");
    if (f) f.addEventListener("input", function () { filter(f.value); });
    var e = document.getElementById("wf-expand");
    if (e) e.addEventListener("click", function () { setOpen(true); });
    var c = document.getElementById("wf-collapse");
    if (c) c.addEventListener("click", function () { setOpen(false); });
    var k = document.getElementById("wf-copy");
    if (k) k.addEventListener("click", copy);
    document.querySelectorAll(".wf-log-tab").forEach(function (tab) {
      tab.addEventListener("click", function () {
        var channel = tab.getAttribute("data-channel");
        document.querySelectorAll(".wf-log-tab").forEach(function (t) { t.classList.toggle("active", t === tab); });
        document.querySelectorAll(".wf-log-row").forEach(function (row) {
          row.hidden = row.getAttribute("data-channel") !== channel;
        });
      });
    });
  });
})();
