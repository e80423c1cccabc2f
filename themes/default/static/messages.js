/* 站内消息 popup (CSP script-src 'self'): while the tab is visible, every 60 s (and when the tab
   becomes visible again) ask /api/messages/unread-latest; when a message newer than the last one
   this browser has seen arrives, show a small notice top-right with its title. Its link posts to
   /messages/<id>/open (marks it read, goes to the message's link). The first check of a browser
   only records the newest id, so messages already there show as the header badge, not a popup. */
(function () {
  "use strict";
  var KEY = "specadmin.messages.seen";
  var INTERVAL = 60000;
  var timer = null;

  function seen() {
    try { return parseInt(window.localStorage.getItem(KEY) || "", 10); } catch (e) { return NaN; }
  }
  function remember(id) {
    try { window.localStorage.setItem(KEY, String(id)); } catch (e) { /* private mode: no popup memory */ }
  }
  function csrf() {
    var el = document.querySelector('.logout-form input[type="hidden"]');
    return el ? el.cloneNode(true) : null;
  }
  function badge(n) {
    var link = document.getElementById("message-link");
    if (!link) return;
    var b = document.getElementById("message-badge");
    if (!n) { if (b) b.parentNode.removeChild(b); return; }
    if (!b) { b = document.createElement("span"); b.className = "badge"; b.id = "message-badge"; link.appendChild(b); }
    b.textContent = String(n);
  }
  function popup(msg) {
    var old = document.getElementById("message-popup");
    if (old) old.parentNode.removeChild(old);
    var box = document.createElement("div");
    box.id = "message-popup";
    box.className = "message-popup";
    box.setAttribute("role", "alert");
    var head = document.createElement("div");
    head.className = "message-popup-head";
    head.textContent = "新消息";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link-button message-popup-close";
    close.setAttribute("aria-label", "关闭");
    close.textContent = "×";
    close.addEventListener("click", function () { box.parentNode.removeChild(box); });
    head.appendChild(close);
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/messages/" + encodeURIComponent(msg.id) + "/open";
    var token = csrf();
    if (token) form.appendChild(token);
    var open = document.createElement("button");
    open.type = "submit";
    open.className = "link-button message-popup-open";
    open.textContent = msg.title;
    form.appendChild(open);
    box.appendChild(head);
    box.appendChild(form);
    document.body.appendChild(box);
  }
  function check() {
    if (document.hidden) return;
    fetch("/api/messages/unread-latest", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        badge(data.unread);
        var last = seen();
        var latest = data.latest;
        if (isNaN(last)) { remember(latest ? latest.id : 0); return; }
        if (latest && latest.id > last) { remember(latest.id); popup(latest); }
      })
      .catch(function () { /* offline: try again at the next tick */ });
  }
  function start() {
    if (timer === null) timer = window.setInterval(check, INTERVAL);
  }
  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); } else { check(); start(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("message-link")) return;
    if (isNaN(seen())) check();
    if (!document.hidden) start();
  });
})();
