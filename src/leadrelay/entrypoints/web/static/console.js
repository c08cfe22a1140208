// leadrelay console: small, hand-written. The session's CSRF token for requests made from script:
// window.leadrelay.fetch(url, options) sends it in X-CSRF-Token on every unsafe method.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : null;
  function send(url, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    if (token && ["GET", "HEAD", "OPTIONS"].indexOf(method) < 0) {
      options.headers = Object.assign({}, options.headers || {}, { "X-CSRF-Token": token });
    }
    options.credentials = "same-origin";
    return fetch(url, options);
  }
  window.leadrelay = { csrf: token, fetch: send };
  // an error announced on a form: focus the first field it describes
  document.addEventListener("DOMContentLoaded", function () {
    var described = document.querySelector("[aria-describedby]");
    if (described && document.querySelector('[role="alert"]')) { described.focus(); }
  });
})();
