// 导入: upload the file, then poll the job until it is done; show counts and the error report link.
(function () {
  var form = document.getElementById("import-form");
  if (!form) return;
  var result = document.getElementById("import-result");
  var bar = document.getElementById("import-progress");
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function show(job) {
    var text = "共 " + job.total + " 行，导入 " + job.ok + " 行，错误 " + job.bad + " 行";
    var states = {running: "导入中：", done: "导入完成：", failed: "未导入（存在错误，整个文件未写入）：", error: "出错："};
    result.textContent = (states[job.status] || "") + text + (job.message ? "。" + job.message : "");
    if (job.error_file) {
      var a = document.createElement("a");
      a.href = job.error_file; a.textContent = " 下载错误报告"; a.id = "import-errors";
      result.appendChild(a);
    }
  }
  function poll(id) {
    fetch("/api/imports/" + id, {headers: {accept: "application/json"}}).then(function (r) { return r.json(); })
      .then(function (job) {
        show(job);
        if (job.status === "running") { setTimeout(function () { poll(id); }, 1000); }
        else { bar.hidden = true; if (job.status === "done") { setTimeout(function () { location.reload(); }, 1500); } }
      });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData();
    data.append("file", document.getElementById("import-file").files[0]);
    var url = form.dataset.action + (document.getElementById("import-force").checked ? "&force=true" : "");
    bar.hidden = false; result.textContent = "上传中…";
    fetch(url, {method: "POST", body: data, headers: {"x-csrftoken": csrf(), accept: "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (!res.ok) { bar.hidden = true; result.textContent = res.body.detail || "导入失败"; return; }
        show(res.body);
        if (res.body.status === "running") { poll(res.body.job); } else { bar.hidden = true; }
      });
  });
})();
