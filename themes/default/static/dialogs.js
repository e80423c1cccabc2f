/* specadmin dialogs and toasts (CSP script-src 'self': no inline script, no style attributes).

   - Confirmations: buttons, forms and links with data-confirm, and 删除 links (data-delete), ask in a
     modal <dialog> instead of the browser's confirm(); a delete then posts to /s/<screen>/<id>/delete
     (without JavaScript the link opens the confirm page).
   - Custom actions: a button with data-params opens its parameter form (a <template
     class="action-params"> the server rendered with the edit form's widgets); the form is posted with
     Accept: application/json, problems are shown beside each field, and an outcome with skipped rows
     or values shown once (a generated password) opens a result dialog before the page reloads.
   - Flash messages become toasts.
*/
(function () {
  "use strict";

  var CSRF = "_csrf_token";

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function button(label, className) {
    var b = make("button", "btn " + (className || ""), label);
    b.type = "button";
    return b;
  }

  // -- the dialog --------------------------------------------------------------------------------
  function openDialog(title, options) {
    options = options || {};
    var dialog = make("dialog", "sa-dialog" + (options.className ? " " + options.className : ""));
    dialog.setAttribute("aria-label", title);
    var head = make("div", "dialog-head");
    head.appendChild(make("h2", "dialog-title", title));
    var x = button("×", "dialog-x link-button");
    x.setAttribute("aria-label", "关闭");
    head.appendChild(x);
    var body = make("div", "dialog-body");
    var alert = make("div", "alert alert-error dialog-alert");
    alert.setAttribute("role", "alert");
    alert.hidden = true;
    var foot = make("div", "dialog-foot");
    dialog.appendChild(head);
    dialog.appendChild(alert);
    dialog.appendChild(body);
    dialog.appendChild(foot);
    var closed = false;
    function close() {
      if (closed) return;
      closed = true;
      if (dialog.open) dialog.close();
      if (dialog.parentNode) dialog.parentNode.removeChild(dialog);
      if (options.onClose) options.onClose();
    }
    x.addEventListener("click", close);
    dialog.addEventListener("cancel", function (event) {  // Esc
      event.preventDefault();
      if (!dialog.classList.contains("busy")) close();
    });
    dialog.addEventListener("close", close);
    document.body.appendChild(dialog);
    dialog.showModal();
    return {
      dialog: dialog, body: body, foot: foot, close: close,
      alert: function (text) {
        alert.textContent = text || "";
        alert.hidden = !text;
      }
    };
  }

  function confirmDialog(title, text, okLabel, danger) {
    return new Promise(function (resolve) {
      var answered = false;
      var d = openDialog(title, {className: "dialog-confirm", onClose: function () { if (!answered) resolve(false); }});
      d.body.appendChild(make("p", "dialog-text", text));
      var cancel = button("取消", "dialog-cancel");
      var ok = button(okLabel || "确定", (danger ? "btn-danger btn-danger-solid" : "btn-primary") + " dialog-ok");
      cancel.addEventListener("click", d.close);
      ok.addEventListener("click", function () { answered = true; d.close(); resolve(true); });
      d.foot.appendChild(cancel);
      d.foot.appendChild(ok);
      ok.focus();
    });
  }

  function messageDialog(title, text) {
    var d = openDialog(title, {className: "dialog-message"});
    d.body.appendChild(make("p", "dialog-text", text));
    var ok = button("知道了", "btn-primary dialog-ok");
    ok.addEventListener("click", d.close);
    d.foot.appendChild(ok);
    ok.focus();
  }

  // -- toasts ------------------------------------------------------------------------------------
  function showToasts() {
    var flashes = document.querySelectorAll("main .flash, body > .flash, .login-wrap .flash");
    if (!flashes.length) return;
    var stack = document.getElementById("toast-stack");
    if (!stack) {
      stack = make("div", "toast-stack");
      stack.id = "toast-stack";
      stack.setAttribute("aria-live", "polite");
      document.body.appendChild(stack);
    }
    Array.prototype.forEach.call(flashes, function (flash) {
      flash.classList.add("toast");
      var x = button("×", "toast-x link-button");
      x.setAttribute("aria-label", "关闭");
      x.addEventListener("click", function () { flash.classList.add("toast-hidden"); });
      flash.appendChild(x);
      stack.appendChild(flash);
      if (!flash.classList.contains("flash-error")) {  // errors stay until closed
        window.setTimeout(function () { flash.classList.add("toast-hidden"); }, 6000);
      }
    });
  }

  // -- custom actions ----------------------------------------------------------------------------
  function selectedCount(form) {
    if (!form || !form.id) return 0;
    return document.querySelectorAll('input.row-check[form="' + form.id + '"]:checked').length;
  }

  function templateFor(name) {
    var all = document.querySelectorAll("template.action-params");
    for (var i = 0; i < all.length; i++) {
      if (all[i].getAttribute("data-action") === name) return all[i];
    }
    return null;
  }

  function showErrors(d, form, body) {
    var errors = (body && body.errors) || {};
    var loose = [];
    Object.keys(errors).forEach(function (key) {
      var row = form ? form.querySelector('.form-row[data-field="' + key + '"]') : null;
      if (!row) {
        loose.push(errors[key]);
        return;
      }
      row.classList.add("has-error");
      var control = row.querySelector(".form-control") || row;
      var note = make("div", "field-error", errors[key]);
      note.setAttribute("data-field", key);
      control.insertBefore(note, control.querySelector(".help"));
    });
    var summary = (body && body.detail) || "操作失败";
    d.alert(loose.length ? summary + "：" + loose.join("；") : summary);
  }

  function clearErrors(d, form) {
    d.alert("");
    if (!form) return;
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (n) { n.parentNode.removeChild(n); });
    Array.prototype.forEach.call(form.querySelectorAll(".has-error"), function (n) { n.classList.remove("has-error"); });
  }

  var STATUS_TEXT = {400: "请求有误", 403: "无权执行此操作", 404: "记录不存在或无权访问", 409: "操作冲突",
                     413: "提交的内容过大", 429: "请求过于频繁，请稍后再试"};

  function resultDialog(label, body) {
    var d = openDialog(label + "结果", {className: "dialog-result", onClose: function () {
      window.location.assign(body.redirect || window.location.href);
    }});
    d.body.appendChild(make("p", "outcome-message", body.message));
    if (body.reasons && body.reasons.length) {
      d.body.appendChild(make("p", "outcome-reasons-title", "跳过的记录："));
      var list = make("ul", "outcome-reasons");
      body.reasons.forEach(function (text) { list.appendChild(make("li", "", text)); });
      d.body.appendChild(list);
    }
    if (body.shown && body.shown.length) {
      d.body.appendChild(make("p", "outcome-once", "以下内容只显示这一次，请立即妥善告知或保存："));
      var table = make("table", "list outcome-values");
      var tbody = make("tbody");
      body.shown.forEach(function (s) {
        s.items.forEach(function (item) {
          var tr = make("tr", "row");
          tr.appendChild(make("td", "", s.row));
          tr.appendChild(make("td", "", item.label));
          tr.appendChild(make("td", "outcome-value", item.value));
          tbody.appendChild(tr);
        });
      });
      table.appendChild(tbody);
      d.body.appendChild(table);
    }
    var ok = button("关闭", "btn-primary dialog-ok");
    ok.addEventListener("click", d.close);
    d.foot.appendChild(ok);
    ok.focus();
  }

  function post(url, data) {
    return window.fetch(url, {method: "POST", body: data, credentials: "same-origin",
                              headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.text().then(function (text) {
          var body = null;
          try { body = JSON.parse(text); } catch (e) { body = null; }
          return {status: response.status, ok: response.ok, body: body};
        });
      });
  }

  function actionDialog(trigger, form, url, label, confirmText, params, count) {
    var d = openDialog(label, {className: "dialog-action"});
    d.dialog.setAttribute("data-action", trigger.getAttribute("data-action") || "");
    if (count > 1) d.body.appendChild(make("p", "dialog-count", "已选 " + count + " 条记录"));
    if (confirmText) d.body.appendChild(make("p", "dialog-text", confirmText));
    var fields = null;
    var template = params ? templateFor(params) : null;
    if (template) {
      fields = make("form", "dialog-form");
      fields.noValidate = true;
      fields.setAttribute("data-url", url);  // where an action's file parameter uploads (static/attachments.js)
      fields.appendChild(document.importNode(template.content, true));
      d.body.appendChild(fields);
    }
    var cancel = button("取消", "dialog-cancel");
    var ok = button("确定", "btn-primary dialog-ok");
    d.foot.appendChild(cancel);
    d.foot.appendChild(ok);
    cancel.addEventListener("click", d.close);

    function send(event) {
      if (event) event.preventDefault();
      if (d.dialog.classList.contains("busy")) return;
      clearErrors(d, fields);
      var data = new FormData(form);
      if (fields) {
        new FormData(fields).forEach(function (value, key) { data.append(key, value); });
        data.set("params_form", "1");
      }
      d.dialog.classList.add("busy");
      ok.disabled = true;
      post(url, data).then(function (answer) {
        d.dialog.classList.remove("busy");
        ok.disabled = false;
        if (answer.ok && answer.body) {
          d.close();
          if ((answer.body.shown && answer.body.shown.length) || (answer.body.reasons && answer.body.reasons.length)) {
            resultDialog(label, answer.body);
          } else {
            window.location.assign(answer.body.redirect || window.location.href);
          }
          return;
        }
        if (answer.body && (answer.body.detail || answer.body.errors)) {
          showErrors(d, fields, answer.body);
        } else {
          d.alert(STATUS_TEXT[answer.status] || "操作失败，请稍后再试");
        }
      }, function () {
        d.dialog.classList.remove("busy");
        ok.disabled = false;
        d.alert("网络连接失败，请稍后再试");
      });
    }

    ok.addEventListener("click", send);
    if (fields) fields.addEventListener("submit", send);
    var first = fields ? fields.querySelector("input:not([type=hidden]), select, textarea") : null;
    (first || ok).focus();
  }

  function confirmTextOf(trigger, form) {
    return trigger.getAttribute("data-confirm") || (form && form.getAttribute("data-confirm")) || "";
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest ? event.target.closest("button[data-action], button[data-confirm]") : null;
    if (!trigger || trigger.getAttribute("data-confirmed")) return;
    var form = trigger.form;
    var need = trigger.getAttribute("data-needs-selection");
    var count = need !== null ? selectedCount(form) : 1;
    if (need !== null && count === 0) {
      event.preventDefault();
      messageDialog("提示", need || "请先选择记录");
      return;
    }
    var params = trigger.getAttribute("data-params");
    var text = confirmTextOf(trigger, form);
    if (!params && !text) return;  // a plain action: the form posts as it is
    event.preventDefault();
    var label = trigger.getAttribute("data-label") || trigger.textContent.trim();
    if (trigger.hasAttribute("data-action") && form) {
      actionDialog(trigger, form, trigger.getAttribute("formaction") || form.getAttribute("action"),
                   label, text, params, count);
      return;
    }
    confirmDialog(label || "请确认", text).then(function (yes) {  // any other confirmed button
      if (!yes || !form) return;
      trigger.setAttribute("data-confirmed", "1");
      if (form.requestSubmit) form.requestSubmit(trigger); else trigger.click();
    });
  }, true);

  // Links: 删除 (data-delete) posts the delete after a dialog; other data-confirm links navigate.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-delete], a[data-confirm]") : null;
    if (!link) return;
    var token = document.querySelector('input[name="' + CSRF + '"]');
    if (link.hasAttribute("data-delete") && !token) return;  // the confirm page does it
    event.preventDefault();
    if (!link.hasAttribute("data-delete")) {
      confirmDialog("请确认", link.getAttribute("data-confirm")).then(function (yes) {
        if (yes) window.location.assign(link.href);
      });
      return;
    }
    var name = link.getAttribute("data-delete");
    var text = "确定要删除" + (name ? "“" + name + "”" : "这条记录") + "吗？删除后不可恢复。";
    confirmDialog("确认删除", text, "确认删除", true).then(function (yes) {
      if (!yes) return;
      var target = new URL(link.href, window.location.href);
      var form = make("form", "hidden-form");
      form.method = "post";
      form.action = target.pathname;
      [[CSRF, token.value], ["r", target.searchParams.get("r") || ""]].forEach(function (pair) {
        var input = make("input");
        input.type = "hidden";
        input.name = pair[0];
        input.value = pair[1];
        form.appendChild(input);
      });
      document.body.appendChild(form);
      form.submit();
    });
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showToasts);
  else showToasts();
})();
