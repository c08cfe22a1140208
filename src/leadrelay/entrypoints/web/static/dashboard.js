// The dashboard refreshes itself: every data-every seconds (30), while the page is visible, it fetches the
// board (an HTML fragment rendered by the server) and puts it in place. Nothing else.
(function () {
  "use strict";
  function start() {
    var board = document.getElementById("dash-board");
    if (!board) { return; }
    var every = (parseInt(board.getAttribute("data-every"), 10) || 30) * 1000;
    function refresh() {
      if (document.hidden) { return; }
      window.leadrelay.fetch(board.getAttribute("data-src"), { headers: { Accept: "text/html" } })
        .then(function (answer) {
          if (answer.redirected || !answer.ok) { return null; }  // a session that ended: keep what is shown
          return answer.text();
        })
        .then(function (html) { if (html !== null) { board.innerHTML = html; } })
        .catch(function () { /* offline for a moment: the next round tries again */ });
    }
    window.setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
    board.dashboardRefresh = refresh;  // the browser test calls it instead of waiting 30 s
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
