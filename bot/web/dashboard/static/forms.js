// The Request payment and Send money forms: amounts shown as KES 1,500 while typed, and phone,
// amount (and reason) checked as you type by the server's own rules (POST data-check-url).
// Without JavaScript the same checks run when the form is sent, with the same words.
(function () {
  "use strict";
  var form = document.querySelector("form[data-check-url]");
  if (!form) { return; }
  var csrf = form.querySelector("input[name=csrf_token]");
  var amount = form.querySelector("input[name=amount]");
  var preview = document.getElementById("amount-preview");
  var timer = null;
  var asked = 0;

  function grouped(digits) {
    return digits.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // 1500 -> 1,500 as typed, the caret kept after the same digit; "1.5" is left for the server
  function formatAmount() {
    var raw = amount.value;
    if (!/^[\d,\s]*$/.test(raw)) { showPreview(""); return; }
    var caret = amount.selectionStart === null ? raw.length : amount.selectionStart;
    var digitsBefore = raw.slice(0, caret).replace(/\D/g, "").length;
    var digits = raw.replace(/\D/g, "");
    var text = digits ? grouped(digits) : "";
    if (text !== raw) {
      amount.value = text;
      var pos = 0;
      var seen = 0;
      while (pos < text.length && seen < digitsBefore) {
        if (/\d/.test(text.charAt(pos))) { seen += 1; }
        pos += 1;
      }
      if (document.activeElement === amount) { amount.setSelectionRange(pos, pos); }
    }
    showPreview(text ? "KES " + text : "");
  }

  function showPreview(text) {
    if (preview) { preview.textContent = text; }
  }

  function show(name, verdict) {
    var input = form.querySelector("[name=" + name + "]");
    var hint = document.getElementById(name + "-check");
    if (!input || !hint) { return; }
    var value = input.value.trim();
    if (!verdict || value === "") {
      hint.textContent = "";
      hint.className = "check";
      input.removeAttribute("aria-invalid");
      return;
    }
    // an amount read as typed is already shown as "KES 1,500" beside it: say only what it adds
    var same = verdict.ok && name === "amount" && preview && verdict.message === preview.textContent;
    hint.textContent = same ? "" : verdict.message;
    hint.className = verdict.ok ? "check check-ok" : "check check-bad";
    if (verdict.ok) { input.removeAttribute("aria-invalid"); }
    else { input.setAttribute("aria-invalid", "true"); }
  }

  function check() {
    var body = new window.URLSearchParams(new window.FormData(form));
    var mine = ++asked;
    window.fetch(form.getAttribute("data-check-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.value : "", "Accept": "application/json" },
      body: body
    })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (result) {
        if (!result || mine !== asked) { return; }  // a later check is on its way
        Object.keys(result.fields).forEach(function (name) { show(name, result.fields[name]); });
        form.setAttribute("data-checked", result.ok ? "ok" : "bad");
      })
      .catch(function () { /* the server checks again when the form is sent */ });
  }

  form.addEventListener("input", function (event) {
    if (event.target === amount) { formatAmount(); }
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 250);
  });
  if (amount) { formatAmount(); }
})();
