// The dashboard's one shared script (no inline script: the CSP forbids it).
// A form's button marked data-once is disabled once the form is sent, so a double click
// sends it once; the server refuses repeats anyway.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  form.querySelectorAll("button[data-once]").forEach(function (button) {
    window.setTimeout(function () { button.disabled = true; }, 0);
  });
});
