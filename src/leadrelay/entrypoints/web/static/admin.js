// leadrelay console, suppression upload: the file goes as the request's body (XMLHttpRequest, whose upload
// progress fills the first bar); the answer is a stream of JSON lines, one per chunk imported (the second
// bar), then the result. A file refused before anything is written answers 4xx {field, detail}.
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form) { return; }
  var box = document.getElementById("upload-progress");
  var result = document.getElementById("upload-result");
  var button = form.querySelector('button[type="submit"]');

  function bar(name, fraction) {
    var pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    document.getElementById(name + "-bar").value = pct;
    document.getElementById(name + "-bar").textContent = pct + "%";
    document.getElementById(name + "-pct").textContent = pct + "%";
  }
  function fieldError(field, text) {
    var id = field === "column" ? "upload-column" : "upload-file";
    ["upload-file", "upload-column"].forEach(function (other) {
      var p = document.getElementById(other + "-error");
      p.hidden = true; p.textContent = "";
      document.getElementById(other).removeAttribute("aria-invalid");
    });
    if (text) {
      var p = document.getElementById(id + "-error");
      p.textContent = text; p.hidden = false;
      document.getElementById(id).setAttribute("aria-invalid", "true");
      document.getElementById(id).focus();
    }
  }
  function cell(row, text, tag) {
    var c = document.createElement(tag || "td"); c.textContent = text; row.appendChild(c); return c;
  }
  function show(done) {
    result.textContent = "";
    var h = document.createElement("h3");
    h.textContent = "Imported into " + done.list;
    result.appendChild(h);
    var dl = document.createElement("dl");
    dl.className = "pairs";
    [["Rows read", done.rows], ["Added", done.added], ["Duplicates", done.duplicates],
     ["Rejected", done.rejected], ["Blank lines", done.blank]].forEach(function (pair) {
      var dt = document.createElement("dt"); dt.textContent = pair[0]; dl.appendChild(dt);
      var dd = document.createElement("dd"); dd.textContent = String(pair[1]);
      dd.setAttribute("data-count", pair[0].toLowerCase().replace(" ", "-")); dl.appendChild(dd);
    });
    result.appendChild(dl);
    if (done.examples && done.examples.length) {
      var table = document.createElement("table");
      var caption = document.createElement("caption"); caption.textContent = "First rejected lines";
      table.appendChild(caption);
      var head = document.createElement("tr");
      ["Line", "Value", "Why"].forEach(function (t) { cell(head, t, "th").scope = "col"; });
      table.appendChild(head);
      done.examples.forEach(function (ex) {
        var tr = document.createElement("tr");
        cell(tr, String(ex.line)); cell(tr, ex.value); cell(tr, ex.why);
        table.appendChild(tr);
      });
      result.appendChild(table);
    }
    var row = document.querySelector("#list-" + CSS.escape(done.list) + " td.num");
    if (row) {  // the list's size, without a reload
      var entries = parseInt(row.getAttribute("data-entries") || "0", 10) + done.added;
      row.setAttribute("data-entries", String(entries));
      row.textContent = entries.toLocaleString("en-US");
    }
  }
  function problem(text) {
    result.textContent = "";
    var p = document.createElement("p"); p.className = "error"; p.textContent = text;
    result.appendChild(p);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = document.getElementById("upload-file").files[0];
    fieldError(null, null);
    if (!file) { fieldError("file", "choose a file to upload"); return; }
    var list = document.getElementById("upload-list").value;
    var query = "?column=" + encodeURIComponent(document.getElementById("upload-column").value.trim()) +
      (document.getElementById("upload-hashed").checked ? "&hashed=true" : "");
    var xhr = new XMLHttpRequest();
    var seen = 0;
    var finished = false;
    xhr.open("POST", "/console/suppression/" + encodeURIComponent(list) + "/upload" + query);
    xhr.setRequestHeader("X-CSRF-Token", form.getAttribute("data-csrf"));
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    box.hidden = false; bar("upload", 0); bar("import", 0);
    result.textContent = "Uploading…";
    button.disabled = true;
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) { bar("upload", e.loaded / e.total); } };
    xhr.upload.onload = function () { bar("upload", 1); result.textContent = "Importing…"; };
    function lines() {
      if (xhr.status !== 200) { return; }
      var text = xhr.responseText;
      var end = text.lastIndexOf("\n");
      if (end < seen) { return; }
      text.slice(seen, end).split("\n").forEach(function (line) {
        if (!line) { return; }
        var item = JSON.parse(line);
        if (item.stage === "import") { bar("import", item.size ? item.read / item.size : 1); }
        else if (item.stage === "done") { finished = true; bar("import", 1); show(item); }
        else if (item.stage === "error") { finished = true; problem("The import stopped: " + item.detail); }
      });
      seen = end + 1;
    }
    xhr.onprogress = lines;
    xhr.onload = function () {
      button.disabled = false;
      if (xhr.status === 200) {
        bar("upload", 1);
        lines();
        if (!finished) { problem("The import was interrupted: what was written stays; upload the file again to finish."); }
        return;
      }
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = { detail: "the server answered " + xhr.status }; }
      result.textContent = "";
      box.hidden = true;
      if (answer.field === "file" || answer.field === "column") { fieldError(answer.field, answer.detail); }
      else { problem(answer.detail || ("The server answered " + xhr.status)); }
    };
    xhr.onerror = function () { button.disabled = false; problem("The upload failed: check the connection and try again."); };
    xhr.send(file);
  });
})();
