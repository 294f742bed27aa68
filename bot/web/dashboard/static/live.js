// Live record pages: the server says "changed" over server-sent events; the page is fetched
// again and its [data-live-region] parts swapped in place, so "Waiting for PIN" turns "Paid" (and
// Retry appears) without a reload. Without JavaScript the page offers a Refresh link instead.
(function () {
  "use strict";
  var marker = document.querySelector("[data-live-events]");
  if (!marker || typeof window.EventSource === "undefined") { return; }
  var source = new window.EventSource(marker.getAttribute("data-live-events"));
  var busy = false;
  var again = false;

  function swap(html) {
    var fresh = new window.DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live-region]").forEach(function (region) {
      var replacement = region.id ? fresh.getElementById(region.id) : null;
      if (replacement) { region.innerHTML = replacement.innerHTML; }
    });
    if (!fresh.querySelector("[data-live-events]")) { source.close(); }
    document.dispatchEvent(new window.CustomEvent("live:updated"));
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    window.fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { /* the next event, or the Refresh link, tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  source.addEventListener("changed", refresh);
  source.addEventListener("final", function () { source.close(); refresh(); });
  marker.setAttribute("data-live-state", "listening");
})();
