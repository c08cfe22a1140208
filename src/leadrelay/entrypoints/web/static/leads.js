// leadrelay console, the lead pages: the CSV import's progress (the upload's, then the server's), and the
// erasure's confirm dialog. Small and hand-written; the pages work without it (a plain form post, a
// confirmation page).
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  function showProgress(p) {
    var bar = $("import-bar"), state = $("import-state"), rejects = $("import-rejects");
    bar.value = p.percent;
    bar.textContent = p.percent + "%";
    state.textContent = p.state + ": " + p.rows + " rows, " + p.accepted + " accepted, " + p.rejected +
      " rejected" + (p.error ? " (" + p.error + ")" : "");
    if (p.state !== "running") {
      rejects.querySelector("a").href = "/console/leads/import/" + p.id + "/rejects.csv";
      rejects.hidden = !p.has_rejects;
      var stopped = $("import-interrupted");
      if (stopped) { stopped.hidden = p.state !== "interrupted"; }
      state.focus && state.setAttribute("tabindex", "-1");
    }
  }

  function poll(url) {
    window.leadrelay.fetch(url, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        showProgress(p);
        if (p.state === "running") { setTimeout(function () { poll(url); }, 300); }
      });
  }

  function startImport(form) {
    var error = $("import-error"), box = $("import-progress"), upload = $("upload-bar");
    error.hidden = true;
    box.hidden = false;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    if (window.leadrelay.csrf) { xhr.setRequestHeader("X-CSRF-Token", window.leadrelay.csrf); }
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { upload.value = Math.round(100 * e.loaded / e.total); }
    });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status === 202 || (xhr.status === 200 && body.reused)) {
        if (body.reused) { window.location.assign(body.status_url + "?again=1"); return; }
        upload.value = 100;
        showProgress(body);
        poll("/console/leads/import/" + body.id + "/progress");
      } else {
        var errors = body.errors || {};
        var text = Object.keys(errors).map(function (k) { return k + ": " + errors[k]; }).join("; ");
        error.textContent = text || body.detail || ("the import was refused (" + xhr.status + ")");
        error.hidden = false;
        box.hidden = true;
      }
    });
    xhr.addEventListener("error", function () {
      error.textContent = "the upload failed: check the connection and try again";
      error.hidden = false;
    });
    xhr.send(new FormData(form));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = $("import-form");
    if (form && window.FormData && window.XMLHttpRequest) {
      form.addEventListener("submit", function (e) { e.preventDefault(); startImport(form); });
    }
    var status = document.querySelector("[data-progress-url]");
    if (status) { poll(status.getAttribute("data-progress-url")); }
    // the erasure: a confirm dialog instead of the confirmation page
    Array.prototype.forEach.call(document.querySelectorAll("[data-dialog]"), function (link) {
      var dialog = $(link.getAttribute("data-dialog"));
      if (!dialog || !dialog.showModal) { return; }
      link.addEventListener("click", function (e) {
        e.preventDefault();
        dialog.showModal();
        var first = dialog.querySelector("input:not([type=hidden])");
        if (first) { first.focus(); }
      });
      Array.prototype.forEach.call(dialog.querySelectorAll("[data-close]"), function (close) {
        close.addEventListener("click", function (e) { e.preventDefault(); dialog.close(); link.focus(); });
      });
    });
  });
})();
