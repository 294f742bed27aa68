// A button marked data-once is pressed once: a second click while the form is sent does nothing.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-once]");
    if (!button) { return; }
    if (button.getAttribute("data-pressed")) { event.preventDefault(); return; }
    button.setAttribute("data-pressed", "1");
    button.setAttribute("aria-disabled", "true");
  }, true);
})();
