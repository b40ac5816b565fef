// "Copier" buttons of the payment links and the webhook URL (data-copy-link="#input-id"):
// the Clipboard API, else select the text. (app.js handles the other data-copy buttons.)
(function () {
  "use strict";
  if (window.crmCopyReady) return;
  window.crmCopyReady = true;

  function say(kind, text) {
    if (window.crmToast) window.crmToast(kind, text);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy-link]") : null;
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy-link"));
    if (!field) return;
    var value = field.value || field.textContent;
    function fallback() {
      field.focus();
      if (field.select) field.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (ignored) { copied = false; }
      if (copied) say("success", "Lien copié.");
      else say("info", "Sélectionnez le lien puis copiez-le (Ctrl+C).");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () {
        say("success", "Lien copié.");
      }, fallback);
    } else {
      fallback();
    }
  });
})();
