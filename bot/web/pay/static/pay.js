// The payment page without a reload button: while M-Pesa is asked, poll the state and reload the
// page (the server renders every state) as soon as it changes. Without JavaScript the page
// refreshes itself with <noscript><meta http-equiv="refresh"></noscript>.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var form = document.getElementById("pay");
  if (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
    });
  }
  if (!live || document.body.dataset.state !== "waiting") { return; }
  var url = live.dataset.statusUrl;
  var every = parseInt(live.dataset.pollMs, 10) || 2000;
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (body) {
        if (body && body.state !== "waiting") { window.location.replace(window.location.pathname); }
        else { window.setTimeout(poll, every); }
      })
      .catch(function () { window.setTimeout(poll, every * 2); });
  }
  window.setTimeout(poll, every);
})();
