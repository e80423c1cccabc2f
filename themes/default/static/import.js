// 导入: upload the file with the chosen import mode, poll the job until it ends, then show the
// outcome per row: counts, the first bad rows (row, column, reason) and the error workbook link.
(function () {
  var form = document.getElementById("import-form");
  if (!form) return;
  var result = document.getElementById("import-result");
  var bar = document.getElementById("import-progress");
  var outcome = document.getElementById("import-outcome");
  var more = document.getElementById("import-more");
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function mode() {
    var checked = form.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "";
  }
  function summary(job) {
    if (job.status === "running") return "导入中：已处理 " + job.total + " 行";
    if (job.status === "failed") {
      return "未导入（存在错误行，整个文件未写入）：共 " + job.total + " 行，错误 " + job.bad + " 行";
    }
    if (job.status === "done") {
      return "导入完成：共 " + job.total + " 行，导入 " + job.ok + " 行" +
        (job.bad ? "，跳过错误行 " + job.bad + " 行" : "");
    }
    return "出错：共 " + job.total + " 行";
  }
  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  function problems(job) {
    var list = job.problems || [];
    var body = outcome.querySelector("tbody");
    body.textContent = "";
    list.forEach(function (p) {
      var tr = document.createElement("tr");
      tr.className = "import-problem";
      cell(tr, p.row); cell(tr, p.column); cell(tr, p.reason);
      body.appendChild(tr);
    });
    var rows = {};
    list.forEach(function (p) { rows[p.row] = true; });
    var shown = Object.keys(rows).length;
    more.hidden = job.bad <= shown;
    more.textContent = "另有 " + (job.bad - shown) + " 行错误，见错误报告";
    outcome.hidden = list.length === 0;
  }
  function show(job) {
    result.textContent = summary(job) + (job.message ? "。" + job.message : "");
    if (job.error_file) {
      var a = document.createElement("a");
      a.href = job.error_file; a.textContent = " 下载错误报告"; a.id = "import-errors";
      result.appendChild(a);
    }
    if (job.status === "done" && job.bad) {
      var again = document.createElement("a");
      again.href = location.href; again.textContent = " 刷新列表"; again.id = "import-reload";
      result.appendChild(again);
    }
    problems(job);
  }
  function ended(job) {
    bar.hidden = true;
    // Nothing to read on the page: show the new rows. Bad rows stay listed until the user reloads.
    if (job.status === "done" && !job.bad) { setTimeout(function () { location.reload(); }, 1500); }
  }
  function poll(id) {
    fetch("/api/imports/" + id, {headers: {accept: "application/json"}}).then(function (r) { return r.json(); })
      .then(function (job) {
        show(job);
        if (job.status === "running") { setTimeout(function () { poll(id); }, 1000); } else { ended(job); }
      });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData();
    data.append("file", document.getElementById("import-file").files[0]);
    var url = form.dataset.action + (mode() ? "&mode=" + encodeURIComponent(mode()) : "") +
      (document.getElementById("import-force").checked ? "&force=true" : "");
    bar.hidden = false; result.textContent = "上传中…"; outcome.hidden = true;
    fetch(url, {method: "POST", body: data, headers: {"x-csrftoken": csrf(), accept: "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (!res.ok) { bar.hidden = true; result.textContent = res.body.detail || "导入失败"; return; }
        show(res.body);
        if (res.body.status === "running") { poll(res.body.job); } else { ended(res.body); }
      });
  });
})();
