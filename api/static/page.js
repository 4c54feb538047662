/* GET / : send the files, show the report (api/web.py). Small inputs are checked at once
   (POST /v1/checks/upload?format=html); large ones run as a job whose progress is shown. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("page-config").textContent);
  var form = document.getElementById("check-form");
  var status = document.getElementById("status");
  var progress = document.getElementById("progress");
  var downloads = document.getElementById("downloads");
  var frame = document.getElementById("report");
  var MAP = /\.(gpkg|geojson|zip|shp|fgb|geojsonl)$/i;
  var urls = [];

  function say(text, error) {
    status.textContent = text;
    status.className = error ? "error" : "";
  }
  function query(format) {
    var q = new URLSearchParams();
    q.set("format", format);
    q.set("ruleset", form.ruleset.value);
    if (form.as_of.value) q.set("as_of", form.as_of.value);
    q.set("lang", form.lang.value);
    var offset = form.querySelector("input[name=offset]:checked").value;
    Array.prototype.forEach.call(form.context.files, function (f) {
      if (offset && /\.csv$/i.test(f.name)) q.append("context_offset", f.name + "=" + offset);
    });
    return q.toString();
  }
  function body() {
    var data = new FormData();
    data.append("file", form.file.files[0]);
    Array.prototype.forEach.call(form.context.files, function (f) { data.append("context", f); });
    return data;
  }
  async function problem(response) {
    var text = await response.text();
    try {
      var p = JSON.parse(text);
      return (p.title ? p.title + ": " : "") + (p.detail || text);
    } catch (e) {
      return response.status + " " + text;
    }
  }
  function reset() {
    urls.forEach(function (u) { URL.revokeObjectURL(u); });
    urls = [];
    downloads.textContent = "";
    downloads.hidden = true;
    frame.hidden = true;
    progress.hidden = true;
  }
  function link(text, href, file) {
    var a = document.createElement("a");
    a.textContent = text;
    a.href = href;
    if (file) a.download = file;
    downloads.appendChild(a);
    downloads.hidden = false;
    return a;
  }
  function show(src) {
    frame.src = src;
    frame.hidden = false;
  }
  // a download made on demand from the same files (small inputs)
  function later(text, format, file) {
    var a = link(text, "#", file);
    a.addEventListener("click", async function (ev) {
      if (a.dataset.ready) return;
      ev.preventDefault();
      var r = await fetch(config.base + "/v1/checks/upload?" + query(format), { method: "POST", body: body() });
      if (!r.ok) return say(await problem(r), true);
      var u = URL.createObjectURL(await r.blob());
      urls.push(u);
      a.href = u;
      a.dataset.ready = "1";
      a.click();
    });
  }

  async function checkNow() {
    say("检查中 Checking …");
    var r = await fetch(config.base + "/v1/checks/upload?" + query("html"), { method: "POST", body: body() });
    if (!r.ok) return say(await problem(r), true);
    var u = URL.createObjectURL(await r.blob());
    urls.push(u);
    say("完成 Done");
    show(u);
    link("报告 Report (.html)", u, "report.html");
    later("CSV", "csv", "results.csv");
    later("Excel (.xlsx)", "xlsx", "results.xlsx");
    later("JSON", "json", "results.json");
    if (MAP.test(form.file.files[0].name) || form.context.files.length) {
      later("GeoPackage", "gpkg", "results.gpkg");
      later("GeoJSON", "geojson", "results.geojson");
    }
  }

  async function checkAsJob() {
    var r = await fetch(config.base + "/v1/jobs?" + query("csv"), { method: "POST", body: body() });
    if (!r.ok) return say(await problem(r), true);
    var job = await r.json();
    progress.hidden = false;
    for (;;) {
      progress.value = job.progress || 0;
      say("任务 Job " + job.id + ": " + (job.stage || job.state) + " " + Math.round(100 * (job.progress || 0)) + "%");
      if (job.state === "done" || job.state === "failed") break;
      await new Promise(function (ok) { setTimeout(ok, 1000); });
      var s = await fetch(config.base + job.url);
      if (!s.ok) return say(await problem(s), true);
      job = await s.json();
    }
    progress.hidden = true;
    if (job.state === "failed") return say(job.error, true);
    say("完成 Done");
    show(config.base + job.report_url);
    link("报告 Report (.html)", config.base + job.report_url, "report.html");
    link("CSV", config.base + job.result_url, "results.csv");
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (!form.file.files.length) return say("请选择文件 Choose a file", true);
    reset();
    var size = form.file.files[0].size;
    Array.prototype.forEach.call(form.context.files, function (f) { size += f.size; });
    var button = document.getElementById("submit");
    button.disabled = true;
    try {
      if (size <= config.syncBytes) await checkNow();
      else await checkAsJob();
    } catch (e) {
      say(String(e), true);
    } finally {
      button.disabled = false;
    }
  });
})();
