// leadrelay console: the distribution log. Small, hand-written, no library.
// - live table: every few seconds asks /console/log/rows for the distributions newer than the newest row
//   shown (same filter) and prepends them, and for the current state of the rows still open (replaced in
//   place); a button pauses it.
// - drawer: a row's link opens the distribution's detail in a <dialog> (its own page without script).
// - three-dots menu: a button opening a menu (arrow keys, Escape); resend and cancel open a confirmation
//   dialog (a page of their own without script).
(function () {
  "use strict";
  var POLL_MS = 3000;

  // ---------------------------------------------------------------- live table
  function live() {
    var box = document.querySelector(".live[data-rows-url]");
    var body = document.getElementById("log-rows");
    if (!box || !body) { return; }
    var toggle = document.getElementById("live-toggle");
    var state = document.getElementById("live-state");
    var paused = false;
    var busy = false;
    toggle.hidden = false;
    state.textContent = "Live: new distributions appear at the top.";
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      toggle.textContent = paused ? "Resume live updates" : "Pause live updates";
      state.textContent = paused ? "Live updates paused." : "Live: new distributions appear at the top.";
    });
    function newest() {
      var first = body.querySelector("tr[data-id]");
      return first ? first.getAttribute("data-id") : "";
    }
    function poll() {
      if (paused || busy || document.hidden) { return; }
      busy = true;
      var url = box.getAttribute("data-rows-url");
      url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(newest());
      var open = Array.prototype.map.call(body.querySelectorAll('tr[data-open="true"]'), function (r) {
        return r.getAttribute("data-id");
      }).slice(0, 50);
      if (open.length && newest()) { url += "&watch=" + encodeURIComponent(open.join(",")); }
      window.leadrelay.fetch(url).then(function (answer) {
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.text();
      }).then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var rows = t.content.querySelectorAll("tr[data-id]");
        if (!rows.length) { return; }
        var added = 0;
        for (var i = rows.length - 1; i >= 0; i--) {
          var shown = body.querySelector('tr[data-id="' + rows[i].getAttribute("data-id") + '"]');
          if (shown) {  // a row still open when shown: its state now
            if (shown.classList.contains("fresh")) { rows[i].classList.add("fresh"); }
            shown.replaceWith(rows[i]);
            continue;
          }
          rows[i].classList.add("fresh");
          body.insertBefore(rows[i], body.firstChild);
          added++;
        }
        if (!added) { return; }
        var empty = document.getElementById("log-empty");
        if (empty) { empty.remove(); }
        state.textContent = added + " new distribution" + (added > 1 ? "s" : "") + ".";
      }).catch(function () {
        state.textContent = "Live updates interrupted; retrying.";
      }).then(function () { busy = false; });
    }
    window.setInterval(poll, POLL_MS);
  }

  // ---------------------------------------------------------------- three-dots menu and dialogs
  function enhance(root) {
    root.querySelectorAll(".menu-wrap").forEach(function (wrap) {
      var button = wrap.querySelector(".menu-button");
      var menu = wrap.querySelector(".menu");
      if (!button || !menu) { return; }
      button.hidden = false;
      menu.hidden = true;
      wrap.classList.add("enhanced");
      function items() { return Array.prototype.slice.call(menu.querySelectorAll('[role="menuitem"]')); }
      items().forEach(function (item) { item.setAttribute("tabindex", "-1"); });
      function open(focusLast) {
        menu.hidden = false;
        button.setAttribute("aria-expanded", "true");
        var all = items();
        if (all.length) { all[focusLast ? all.length - 1 : 0].focus(); }
      }
      function close(refocus) {
        menu.hidden = true;
        button.setAttribute("aria-expanded", "false");
        if (refocus) { button.focus(); }
      }
      button.addEventListener("click", function () {
        if (menu.hidden) { open(false); } else { close(true); }
      });
      button.addEventListener("keydown", function (e) {
        if (e.key === "ArrowDown") { e.preventDefault(); open(false); }
        if (e.key === "ArrowUp") { e.preventDefault(); open(true); }
      });
      menu.addEventListener("keydown", function (e) {
        var all = items();
        var at = all.indexOf(document.activeElement);
        if (e.key === "ArrowDown") { e.preventDefault(); all[(at + 1) % all.length].focus(); }
        else if (e.key === "ArrowUp") { e.preventDefault(); all[(at - 1 + all.length) % all.length].focus(); }
        else if (e.key === "Home") { e.preventDefault(); all[0].focus(); }
        else if (e.key === "End") { e.preventDefault(); all[all.length - 1].focus(); }
        else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(true); }
        else if (e.key === "Tab") { close(false); }
        else if ((e.key === "Enter" || e.key === " ") && document.activeElement.getAttribute("aria-disabled") === "true") {
          e.preventDefault();
        }
      });
      menu.addEventListener("click", function (e) {
        var item = e.target.closest('[role="menuitem"]');
        if (!item || item.getAttribute("aria-disabled") === "true") { return; }
        var target = item.getAttribute("data-dialog");
        if (target) {
          var dialog = document.getElementById(target);
          if (dialog && dialog.showModal) {
            e.preventDefault();
            close(false);
            dialog.showModal();
            var first = dialog.querySelector("textarea, input:not([type=hidden]), button");
            if (first) { first.focus(); }
          }
        }
      });
      document.addEventListener("click", function (e) {
        if (!menu.hidden && !wrap.contains(e.target)) { close(false); }
      });
      items().forEach(function (item) {  // a confirmation closed without going on: back to the menu's button
        var dialog = item.getAttribute("data-dialog") && document.getElementById(item.getAttribute("data-dialog"));
        if (dialog) { dialog.addEventListener("close", function () { button.focus(); }); }
      });
    });
    root.querySelectorAll("dialog.confirm [data-close]").forEach(function (b) {
      b.addEventListener("click", function () { b.closest("dialog").close(); });
    });
  }

  // ---------------------------------------------------------------- drawer
  function drawer() {
    var dialog = document.getElementById("drawer");
    var body = document.getElementById("log-rows");
    if (!dialog || !body || !dialog.showModal) { return; }
    var content = dialog.querySelector(".drawer-body");
    var pageLink = document.getElementById("drawer-page");
    var opener = null;
    dialog.querySelector("[data-close]").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      content.innerHTML = "";
      if (opener) { opener.focus(); }
    });
    body.addEventListener("click", function (e) {
      var link = e.target.closest("a.open");
      if (!link || e.ctrlKey || e.metaKey || e.shiftKey) { return; }
      e.preventDefault();
      opener = link;
      var href = link.getAttribute("href");
      window.leadrelay.fetch(href + "?part=true").then(function (answer) {
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.text();
      }).then(function (html) {
        content.innerHTML = html;
        pageLink.setAttribute("href", href);
        document.getElementById("drawer-title").textContent = "Distribution " + link.textContent;
        enhance(content);
        dialog.showModal();
        var heading = document.getElementById("drawer-title");
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }).catch(function () { window.location.href = href; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    live();
    drawer();
    enhance(document);
  });
})();
