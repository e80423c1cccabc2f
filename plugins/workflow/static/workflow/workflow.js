/* The workflow panel of a detail page (plugins/workflow/pages.py): filter the handling tree by org name,
   expand or collapse it, switch the timeline between 处理日志 and 市级日志, copy the summary's briefing,
   and in the dialog of an action that makes tasks from a list parameter (交办, 申请协助) an org-and-role
   picker that writes that parameter's JSON as a person picks, with a keyword / 仅下级 filter on its orgs,
   the flow's 推荐单位 as one-click rows and the person's 常用单位组 (save, load, delete). */
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
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function api(method, url, body) {
    var init = {method: method, credentials: "same-origin", headers: {"x-csrftoken": csrf()}};
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (r) {
      if (r.status === 204) return null;
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.detail || "操作失败"); return j; });
    });
  }
  function picker(dialog, spec, data) {
    var field = dialog.querySelector("[name='" + spec.param + "']");
    if (!field || dialog.querySelector(".wf-picker")) return;
    var every = data.orgs, shown = data.orgs;  // [id, indented name, initials, below]
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
      return items;
    }
    function fill(select, keep) {
      // The filtered orgs, plus the one the row holds so a filter never drops a choice already made.
      while (select.options.length) select.remove(0);
      select.appendChild(new Option("请选择单位", ""));
      var ids = {};
      shown.forEach(function (o) { ids[o[0]] = true; select.appendChild(new Option(o[1], String(o[0]))); });
      if (keep && !ids[keep]) {
        var held = every.filter(function (o) { return o[0] === keep; })[0];
        select.appendChild(new Option(held ? held[1].trim() : "#" + keep, String(keep)));
      }
      select.value = keep ? String(keep) : "";
    }
    function addRow(item) {
      item = item || {};
      var row = el("div", "wf-picker-row");
      var org = el("select", "wf-pick-org");
      org.setAttribute("aria-label", "单位");
      fill(org, item.org);
      row.appendChild(org);
      if (spec.roles.length) {
        var role = el("select", "wf-pick-role");
        role.setAttribute("aria-label", "角色");
        spec.roles.forEach(function (r) { role.appendChild(new Option(r[1], r[0])); });
        if (item.role) role.value = item.role;
        row.appendChild(role);
      }
      if (spec.requirement) {
        var req = el("input", "wf-pick-req");
        req.type = "text";
        req.placeholder = "办理要求";
        req.setAttribute("aria-label", "办理要求");
        if (item.requirement) req.value = item.requirement;
        row.appendChild(req);
      }
      var drop = el("button", "btn wf-pick-drop", "移除");
      drop.type = "button";
      drop.addEventListener("click", function () { row.remove(); write(); });
      row.appendChild(drop);
      row.addEventListener("change", write);
      row.addEventListener("input", write);
      list.appendChild(row);
      write();
    }
    function setRows(items) {
      list.querySelectorAll(".wf-picker-row").forEach(function (row) {
        if (!row.querySelector(".wf-pick-org").value) row.remove();  // empty rows give way
      });
      items.forEach(addRow);
    }
    // 关键字 (name or pinyin initials) and 仅下级 narrow every row's org list (GET /api/workflow/picker-orgs).
    var tools = el("div", "wf-pick-tools");
    var q = el("input", "wf-pick-q");
    q.type = "search";
    q.placeholder = "搜索单位名称或拼音首字母";
    q.setAttribute("aria-label", "搜索单位");
    var belowLabel = el("label", "wf-pick-below-label");
    var below = el("input", "wf-pick-below");
    below.type = "checkbox";
    belowLabel.appendChild(below);
    belowLabel.appendChild(document.createTextNode("仅下级"));
    var asked = 0;
    function refilter() {
      var mine = ++asked;
      var url = "/api/workflow/picker-orgs?q=" + encodeURIComponent(q.value.trim()) + (below.checked ? "&below=true" : "");
      api("GET", url).then(function (body) {
        if (mine !== asked) return;  // a later keystroke answers instead
        shown = body.items.map(function (o) {
          var full = every.filter(function (e) { return e[0] === o.id; })[0];
          return [o.id, full ? full[1] : o.name, o.initials, o.below];
        });
        list.querySelectorAll(".wf-pick-org").forEach(function (s) { fill(s, parseInt(s.value, 10) || null); });
        box.setAttribute("data-filtered", String(shown.length));
      });
    }
    q.addEventListener("input", refilter);
    below.addEventListener("change", refilter);
    tools.appendChild(q);
    tools.appendChild(belowLabel);
    box.appendChild(tools);
    // 推荐单位: the flow's `recommend:` list for the row, one click each (its requirement prefilled).
    if (data.recommended && data.recommended.length) {
      var rec = el("div", "wf-pick-recommended");
      rec.appendChild(el("span", "wf-pick-caption", "推荐单位："));
      data.recommended.forEach(function (r) {
        var b = el("button", "btn wf-pick-rec", "＋" + r.org_name);
        b.type = "button";
        b.title = r.requirement || "";
        b.addEventListener("click", function () { setRows([{org: r.org, requirement: r.requirement}]); });
        rec.appendChild(b);
      });
      box.appendChild(rec);
    }
    // 常用单位组: the person's saved selections (GET/POST/DELETE /api/workflow/org-groups).
    if (data.groups) {
      var bar = el("div", "wf-pick-groups");
      var groups = el("select", "wf-pick-group");
      groups.setAttribute("aria-label", "常用单位组");
      var saved = {};
      var load = function () {
        return api("GET", "/api/workflow/org-groups").then(function (body) {
          while (groups.options.length) groups.remove(0);
          groups.appendChild(new Option("常用单位组", ""));
          body.items.forEach(function (g) { saved[g.id] = g; groups.appendChild(new Option(g.name, String(g.id))); });
        });
      };
      var use = el("button", "btn wf-pick-group-load", "载入");
      use.type = "button";
      use.addEventListener("click", function () { var g = saved[groups.value]; if (g) setRows(g.items); });
      var forget = el("button", "btn wf-pick-group-delete", "删除组");
      forget.type = "button";
      forget.addEventListener("click", function () {
        if (groups.value) api("DELETE", "/api/workflow/org-groups/" + groups.value).then(load);
      });
      var name = el("input", "wf-pick-group-name");
      name.type = "text";
      name.placeholder = "组名";
      name.setAttribute("aria-label", "组名");
      var keep = el("button", "btn wf-pick-group-save", "保存为常用组");
      keep.type = "button";
      var told = el("span", "wf-pick-told");
      keep.addEventListener("click", function () {
        api("POST", "/api/workflow/org-groups", {name: name.value, items: write()}).then(function () {
          told.textContent = "已保存";
          return load();
        }, function (e) { told.textContent = e.message; });
      });
      [groups, use, forget, name, keep, told].forEach(function (n) { bar.appendChild(n); });
      box.appendChild(bar);
      load();
    }
    var add = el("button", "btn wf-pick-add", "添加单位");
    add.type = "button";
    add.addEventListener("click", function () { addRow(); });
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
        if (spec) picker(dialog, spec, data);
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
