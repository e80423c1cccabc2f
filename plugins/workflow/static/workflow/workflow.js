/* The workflow panel of a detail page (plugins/workflow/pages.py): filter the handling tree by org name,
   expand or collapse it, switch the timeline between 处理日志 and 市级日志, copy the summary's briefing,
   and in the dialog of an action that makes tasks from a list parameter (交办, 申请协助) an org-and-role
   picker that writes that parameter's JSON as a person picks. */
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
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function picker(dialog, spec, orgs) {
    var field = dialog.querySelector("[name='" + spec.param + "']");
    if (!field || dialog.querySelector(".wf-picker")) return;
    var box = el("div", "wf-picker");
    var list = el("div", "wf-picker-rows");
    function write() {
      var items = [];
      list.querySelectorAll(".wf-picker-row").forEach(function (row) {
        var org = parseInt(row.querySelector(".wf-pick-org").value, 10);
        if (!org) return;
        var item = {org: org};
        var role = row.querySelector(".wf-pick-role");
        if (role) item.role = role.value;
        var req = row.querySelector(".wf-pick-req");
        if (req && req.value.trim()) item.requirement = req.value.trim();
        items.push(item);
      });
      field.value = items.length ? JSON.stringify(items) : "";
    }
    function addRow() {
      var row = el("div", "wf-picker-row");
      var org = el("select", "wf-pick-org");
      org.setAttribute("aria-label", "单位");
      org.appendChild(new Option("请选择单位", ""));
      orgs.forEach(function (o) { org.appendChild(new Option(o[1], String(o[0]))); });
      row.appendChild(org);
      if (spec.roles.length) {
        var role = el("select", "wf-pick-role");
        role.setAttribute("aria-label", "角色");
        spec.roles.forEach(function (r) { role.appendChild(new Option(r[1], r[0])); });
        row.appendChild(role);
      }
      if (spec.requirement) {
        var req = el("input", "wf-pick-req");
        req.type = "text";
        req.placeholder = "办理要求";
        req.setAttribute("aria-label", "办理要求");
        row.appendChild(req);
      }
      var drop = el("button", "btn wf-pick-drop", "移除");
      drop.type = "button";
      drop.addEventListener("click", function () { row.remove(); write(); });
      row.appendChild(drop);
      row.addEventListener("change", write);
      row.addEventListener("input", write);
      list.appendChild(row);
    }
    var add = el("button", "btn wf-pick-add", "添加单位");
    add.type = "button";
    add.addEventListener("click", addRow);
    box.appendChild(list);
    box.appendChild(add);
    field.parentNode.insertBefore(box, field);
    addRow();
  }
  function watchDialogs(panel) {
    var raw = panel.getAttribute("data-pickers");
    if (!raw) return;
    var data;
    try { data = JSON.parse(raw); } catch (e) { return; }
    new MutationObserver(function () {
      document.querySelectorAll(".dialog-action[data-action]").forEach(function (dialog) {
        var spec = data.actions[dialog.getAttribute("data-action")];
        if (spec) picker(dialog, spec, data.orgs);
      });
    }).observe(document.body, {childList: true, subtree: true});
  }
  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("workflow-panel");
    if (panel) watchDialogs(panel);
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
